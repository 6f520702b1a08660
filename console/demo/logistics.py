"""The demo's logistics desk (找物流, issue 20): carriers with their lanes, rates and cover, and
four months of transport requests in every state, with quotes, loads, the timeline, claims
and ratings, so the desk's queue, the request page, the carriers' scores and the logistics
dashboard have something to show.

Carriers (``CARRIERS``, 20): each based in one of the hub provinces (the provinces of the
tier 1 and 2 cities of app.cities, the real city list) and serving its home province to and
from 4 to 8 other hub provinces. Truck types: most run large car-carriers (大板) and small
ones (小板); a few large only; a few are single-car truck (单车板) specialists. One is
suspended. Cover per car (承运险保额) 300,000 to 1,000,000 yuan.

Prices (BRIEF.md section 6 and README "Logistics desk"): a large car-carrier's yuan per car-km
falls with distance, ``LARGE_RATES``: 2.10 up to 500 road km, 1.65 to 1,000, 1.35 to 2,000 and
1.15 beyond (a minimum of 500 yuan a car) — long-haul consolidated prices of 1–2 yuan per
car-km; a small carrier costs ``SMALL_FACTOR`` (1.6) times that (minimum 800), a single-car
truck ``SINGLE_FACTOR`` (3.5) times (minimum 1,500): "several times" the consolidated price.
Each carrier's prices are these × its own factor, 0.88 to 1.15. The price to the merchant is
the carrier's cost × (1 + the margin share in settings), console/logistics/pricing.py's rule;
road km and transit days are console/logistics/geo.py's and pricing.py's.

Requests (``REQUESTS`` shipments per scale, a fifth of them 2–3 requests) are spread over the ``DAYS`` days before the clock's now:
a lane one of a carrier's province pairs, a city of each province, 1 to 8 cars of a merchant
of the from city where there is one, a declared value per car of 120,000 to 450,000 yuan.
Each is quoted by 2 to 4 carriers serving the lane (estimates from their rates), one quote
booked (已下单), picked up on its ready day, delivered after the transit days (late by 1 to 3
days with the carrier's own chance), with the handover on the timeline. Its state is where
that history stands at the seed's moment: the newest are awaiting a quote or quoted, then
ordered, on the road, arrived, delivered; a few cancelled before ordering, a few in
exception (a delay). About a fifth of the orders travel in groups of 2–3 on one lane and day,
booked together on a confirmed large-carrier load. Of the delivered: claims (damage ~5%,
delay ~3%; most settled, some rejected, a few open) and ratings (70%: stars that follow the
carrier's quality; 1–2 stars are mostly complaints).

Why SQL rather than the services: the services stamp now() on every move and refuse moves
out of order in time, so four months of history cannot be made through them today. Each row
is the services' own row shape (the same columns, timeline kinds and notes) with the day's
time. No audit rows are written (the audit log stamps its own time and is hash-chained), as
for the demo's loans and VIP terms.

Deterministic by seed (its own random stream, np.random.default_rng([seed, STREAM])) for a
given now.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa

from console import clock, db
from console.logistics import geo, pricing
from console.settings import get_settings

STREAM = 104                 # migration 104's number: nothing else's random stream moves
CARRIERS = 20
REQUESTS = {"small": 160, "demo": 600, "large": 600}
DAYS = 120
# The desk's today: requests standing at each open stage now, whatever the history left.
TODAY = ("awaiting_quote",) * 3 + ("quoted",) * 2 + ("ordered",) * 2 + (
    "picked_up", "in_transit", "in_transit", "arrived", "exception")
SHANGHAI = ZoneInfo("Asia/Shanghai")
BANDS = geo.BANDS
LARGE_RATES = (Decimal("2.10"), Decimal("1.65"), Decimal("1.35"), Decimal("1.15"))
LARGE_MIN, SMALL_MIN, SINGLE_MIN = Decimal(500), Decimal(800), Decimal(1500)
SMALL_FACTOR, SINGLE_FACTOR = Decimal("1.6"), Decimal("3.5")
COVERS = (300_000, 500_000, 800_000, 1_000_000)
NAMES = ("长运", "华通", "中联", "顺捷", "安达", "远航", "宏达", "通程", "畅行", "骏马",
         "金桥", "东方", "鸿运", "路通", "恒信", "驰远", "国顺", "联运", "速达", "新干线")
SUFFIXES = ("汽车物流有限公司", "车辆运输有限公司", "商品车物流有限公司", "汽车运输有限公司")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何林罗高"
RECEIVERS = ("门店经理", "库管", "销售主管", "店长")


@dataclass
class Summary:
    carriers: int = 0
    requests: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    quotes: int = 0
    loads: int = 0
    claims: int = 0
    ratings: int = 0


def _at(moment: datetime) -> datetime:
    return moment.astimezone(SHANGHAI)


def _day_at(day: date, hour: float) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SHANGHAI) + timedelta(hours=hour)


def _rates(factor: Decimal, types: list[str]) -> list[pricing.Rate]:
    out = []
    for t in types:
        mult, low = {"large": (Decimal(1), LARGE_MIN), "small": (SMALL_FACTOR, SMALL_MIN),
                     "single": (SINGLE_FACTOR, SINGLE_MIN)}[t]
        for (lo, hi), base in zip(BANDS, LARGE_RATES):
            rate = (base * mult * factor).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
            out.append(pricing.Rate(truck_type=t, band_from_km=lo, band_to_km=hi,
                                    yuan_per_car_km=rate, min_per_car=low))
    return out


def write(conn: sa.Connection, *, seed: int, scale: str) -> Summary:
    """The desk's demo rows in the seed's transaction. Nothing when carriers exist already,
    or when there is no ops person or hub city."""
    summary = Summary()
    if db.scalar(conn, "SELECT EXISTS (SELECT 1 FROM lgx.carriers)"):
        return summary
    ops = [r["id"] for r in db.fetch_all(conn, """
        SELECT id FROM ops.staff WHERE 'ops' = ANY(roles) AND is_active ORDER BY id""")]
    hubs = [dict(r) for r in db.fetch_all(conn, """
        SELECT id, name, short_name, province, latitude, longitude FROM app.cities
        WHERE tier_level <= 2 ORDER BY tier_level, id""")]
    merchants = db.fetch_all(conn, """SELECT id, city_id FROM app.merchants
                                      WHERE status = 'active' ORDER BY id""")
    trims = [r["id"] for r in db.fetch_all(conn, "SELECT id FROM app.trims ORDER BY id LIMIT 400")]
    provinces = sorted({h["province"] for h in hubs})
    if not ops or len(provinces) < 3 or not merchants:
        return summary
    rng = np.random.default_rng([seed, STREAM])
    now = clock.now().astimezone(SHANGHAI)
    road_factor = get_settings().logistics_road_factor
    city = {h["id"]: geo.City(id=h["id"], name=h["short_name"], province=h["province"],
                              latitude=h["latitude"], longitude=h["longitude"]) for h in hubs}
    by_province: dict[str, list[int]] = {}
    for h in hubs:
        by_province.setdefault(h["province"], []).append(h["id"])
    in_city: dict[int, list[int]] = {}
    for m in merchants:
        in_city.setdefault(m["city_id"], []).append(m["id"])
    all_merchants = [m["id"] for m in merchants]

    # ---------------------------------------------------------------- carriers
    carriers = []
    for i in range(CARRIERS):
        home = provinces[i % len(provinces)]
        others = [p for p in provinces if p != home]
        served = [str(p) for p in rng.choice(others, size=min(len(others),
                                                              int(rng.integers(4, 9))),
                                             replace=False)]
        lanes = sorted({(home, p) for p in served} | {(p, home) for p in served})
        kind = i % 7
        types = (["large"] if kind == 3 else ["single", "small"] if kind == 5
                 else ["large", "small"] if kind != 6 else ["large", "small", "single"])
        factor = Decimal(str(round(float(rng.uniform(0.88, 1.15)), 3)))
        carriers.append({
            "id": i + 1, "name": f"{NAMES[i]}{SUFFIXES[i % len(SUFFIXES)]}",
            "contact_name": f"{SURNAMES[i]}{'经理' if i % 2 else '师傅'}",
            "contact_phone": f"1{int(rng.integers(3, 9))}{int(rng.integers(0, 10**9)):09d}",
            "types": types, "cover": COVERS[int(rng.integers(0, len(COVERS)))],
            "status": "suspended" if i == CARRIERS - 1 else "active",
            "lanes": lanes, "rates": _rates(factor, types),
            "on_time": float(rng.uniform(0.72, 0.97)), "damage": float(rng.uniform(0.005, 0.06)),
            "stars": float(rng.uniform(3.2, 4.8)),
            "created_at": now - timedelta(days=DAYS + 60 + i)})
    conn.execute(sa.text("""
        INSERT INTO lgx.carriers (id, name, contact_name, contact_phone, truck_types,
                                  cover_per_car, status, created_at)
        VALUES (:id, :name, :contact_name, :contact_phone, :types, :cover, :status,
                :created_at)"""), [{k: c[k] for k in ("id", "name", "contact_name",
                                                      "contact_phone", "types", "cover",
                                                      "status", "created_at")}
                                   for c in carriers])
    conn.execute(sa.text("""INSERT INTO lgx.carrier_lanes (carrier_id, from_province, to_province)
                            VALUES (:c, :f, :t)"""),
                 [{"c": c["id"], "f": f, "t": t} for c in carriers for f, t in c["lanes"]])
    conn.execute(sa.text("""
        INSERT INTO lgx.carrier_rates (carrier_id, truck_type, band_from_km, band_to_km,
                                       yuan_per_car_km, min_per_car)
        VALUES (:c, :t, :lo, :hi, :rate, :low)"""),
                 [{"c": c["id"], "t": r.truck_type, "lo": r.band_from_km, "hi": r.band_to_km,
                   "rate": r.yuan_per_car_km, "low": r.min_per_car}
                  for c in carriers for r in c["rates"]])
    summary.carriers = len(carriers)
    active = [c for c in carriers if c["status"] == "active"]
    serving: dict[tuple[str, str], list[dict]] = {}
    for c in active:
        for lane in c["lanes"]:
            serving.setdefault(lane, []).append(c)

    # ---------------------------------------------------------------- requests
    requests, cars_rows, quotes, events, loads, claims, ratings = [], [], [], [], [], [], []
    total = REQUESTS.get(scale, 300)

    def event(rid, kind, at, *, frm=None, to=None, note=None, actor=None, handover=None):
        events.append({"r": rid, "k": kind, "f": frm, "t": to, "n": note, "a": actor,
                       "hr": handover[0] if handover else None,
                       "ha": handover[1] if handover else None,
                       "hp": handover[2] if handover else None, "at": at})

    STAGES = ("quoted", "ordered", "picked_up", "in_transit", "arrived", "delivered")

    def history(created: datetime, ready: date, wanted: date, transit: int,
                late: bool) -> dict[str, datetime]:
        """When each stage of a request happens (some after now: not reached yet)."""
        t = {"quoted": created + timedelta(hours=float(rng.uniform(0.5, 5)))}
        t["ordered"] = t["quoted"] + timedelta(hours=float(rng.uniform(1, 30)))
        t["picked_up"] = max(_day_at(ready, float(rng.uniform(8, 12))),
                             t["ordered"] + timedelta(hours=2))
        t["in_transit"] = t["picked_up"] + timedelta(hours=float(rng.uniform(2, 30)))
        arrive_day = (wanted + timedelta(days=int(rng.integers(1, 4))) if late
                      else ready + timedelta(days=transit - int(rng.integers(0, 2))))
        t["arrived"] = max(_day_at(arrive_day, float(rng.uniform(7, 16))),
                           t["in_transit"] + timedelta(hours=12))
        t["delivered"] = t["arrived"] + timedelta(hours=float(rng.uniform(1, 8)))
        return t

    def today_history(target: str, transit: int) -> tuple[datetime, date, dict]:
        """A request that stands at ``target`` now: its stages counted back from now."""
        at = now - timedelta(minutes=float(rng.uniform(20, 150)))
        if target == "awaiting_quote":
            return at, (at + timedelta(days=2)).date(), {}
        gaps = {"quoted": 3, "ordered": 10, "picked_up": 14, "in_transit": 30,
                "arrived": 24 * max(1, transit - 1), "delivered": 6}   # hours before the next
        stage = "in_transit" if target == "exception" else target
        order = list(STAGES[:STAGES.index(stage) + 1])
        t = {order[-1]: at}
        for prev, nxt in zip(reversed(order[:-1]), reversed(order[1:])):
            t[prev] = t[nxt] - timedelta(hours=gaps[nxt])
        created = t["quoted"] - timedelta(hours=2)
        ready = t["picked_up"].date() if "picked_up" in t else (now + timedelta(days=1)).date()
        for later in STAGES[len(order):]:
            t[later] = now + timedelta(days=30)        # not reached
        return created, ready, t

    plan: list[str | None] = [None] * total
    # the desk's today, whatever the random history left: a few requests at every open stage
    for k, target in enumerate(TODAY):
        plan[total - len(TODAY) + k] = target
    for target in plan:
        carrier = active[int(rng.integers(0, len(active)))]
        fp, tp = carrier["lanes"][int(rng.integers(0, len(carrier["lanes"])))]
        src = by_province[fp][int(rng.integers(0, len(by_province[fp])))]
        dst = by_province[tp][int(rng.integers(0, len(by_province[tp])))]
        while dst == src:
            tp = carrier["lanes"][int(rng.integers(0, len(carrier["lanes"])))][1]
            fp = next(f for f, t2 in carrier["lanes"] if t2 == tp)
            src = by_province[fp][int(rng.integers(0, len(by_province[fp])))]
            dst = by_province[tp][int(rng.integers(0, len(by_province[tp])))]
        km = geo.city_road_km(city[src], city[dst], road_factor)
        transit = pricing.transit_days(km)
        late_draw = float(rng.random())
        late = late_draw > carrier["on_time"]
        group = 1 if target or rng.random() < 0.8 or "large" not in carrier["types"] \
            else int(rng.integers(2, 4))
        if target is None:
            # more requests lately (the desk is growing): days ago = DAYS × u^1.5
            created = now - timedelta(seconds=DAYS * 86400 * float(rng.random()) ** 1.5)
            created = min(created.replace(hour=int(rng.integers(8, 19))),
                          now - timedelta(hours=1))
            ready = created.date() + timedelta(days=int(rng.integers(1, 5)))
        else:
            created, ready, fixed = today_history(target, transit)
            late = False
        wanted = ready + timedelta(days=transit + int(rng.integers(1, 4)))
        times = history(created, ready, wanted, transit, late)
        for _ in range(group):
            if target is not None:
                times = fixed
            rid = len(requests) + 1
            cars = int(rng.choice([1, 1, 1, 1, 2, 2, 3, 4, 5, 6, 8])) if group == 1 \
                else int(rng.integers(1, 4))
            truck = ("large" if cars >= 4 or group > 1 else
                     str(rng.choice(["large", "large", "large", "small", "small", "single"])))
            if truck not in carrier["types"]:
                truck = carrier["types"][0]
            pool = in_city.get(src) or all_merchants
            merchant = pool[int(rng.integers(0, len(pool)))]
            source = "ops" if rng.random() < 0.3 else "merchant"
            staff = ops[int(rng.integers(0, len(ops)))]
            per_car_value = Decimal(int(rng.integers(120, 451)) * 1000)
            req = {"id": rid, "merchant_id": merchant, "source": source, "from": src, "to": dst,
                   "ready": ready, "wanted": wanted, "value": per_car_value * cars, "cars": cars,
                   "status": "awaiting_quote", "before": None, "exc": None, "carrier": None,
                   "truck": None, "quote": None, "load": None, "price": None, "cost": None,
                   "created_by": staff if source == "ops" else None, "assignee": None,
                   "created_at": created, "ordered_at": None, "picked_up_at": None,
                   "delivered_at": None, "group": (src, dst, ready, carrier["id"])
                   if group > 1 else None}
            requests.append(req)
            cars_rows.append({"r": rid, "trim": trims[int(rng.integers(0, len(trims)))]
                              if trims else None, "q": cars})
            event(rid, "created", created, to="awaiting_quote", actor=req["created_by"])
            reached = [s for s in STAGES if s in times and times[s] <= now]
            if target == "awaiting_quote" or not reached:
                continue                      # waiting for the desk's quotes
            # quotes: the chosen carrier and 1-3 others serving the lane
            quoted_at = times["quoted"]
            others = [c for c in serving.get((fp, tp), []) if c["id"] != carrier["id"]]
            picks = [carrier] + [others[j] for j in rng.permutation(len(others))[:int(
                rng.integers(1, 4))]]
            booked_quote = None
            for c in picks:
                est = pricing.estimate(c["rates"], truck_type=truck, km=km, cars=cars)
                if est is None:
                    continue
                qid = len(quotes) + 1
                quotes.append({"id": qid, "r": rid, "c": c["id"], "t": truck, "km": km,
                               "ppc": est.price_per_car, "total": est.total,
                               "days": est.transit_days, "by": staff, "at": quoted_at})
                event(rid, "quote", quoted_at, actor=staff,
                      note=f"#{qid} · {c['name']} · ¥{est.price_per_car:,.2f}")
                if c is carrier:
                    booked_quote = quotes[-1]
            event(rid, "status", quoted_at, frm="awaiting_quote", to="quoted", actor=staff)
            req["status"] = "quoted"
            if target is None and rng.random() < 0.05:     # the merchant went elsewhere
                if times["ordered"] <= now:
                    event(rid, "status", times["ordered"], frm="quoted", to="cancelled",
                          actor=staff, note="商户已自行安排运输")
                    req["status"] = "cancelled"
                continue
            if "ordered" not in reached or booked_quote is None:
                continue
            cost = booked_quote["total"]
            req.update(status="ordered", carrier=carrier["id"], truck=truck,
                       quote=booked_quote["id"], cost=cost, price=pricing.merchant_price(cost),
                       ordered_at=times["ordered"], assignee=staff)
            event(rid, "status", times["ordered"], frm="quoted", to="ordered", actor=staff,
                  note=f"#{booked_quote['id']} · {carrier['name']}")
            previous = "ordered"
            for stage in ("picked_up", "in_transit", "arrived"):
                if stage not in reached:
                    break
                req["status"] = stage
                if stage == "picked_up":
                    req["picked_up_at"] = times[stage]
                event(rid, "status", times[stage], frm=previous, to=stage, actor=staff)
                previous = stage
            if req["status"] == "in_transit" and "arrived" not in reached and (
                    target == "exception" or (target is None
                                              and rng.random() < (0.6 if late else 0.1))):
                exc_at = times["in_transit"] + (now - times["in_transit"]) * 0.5
                req.update(status="exception", before="in_transit", exc="delay")
                event(rid, "status", exc_at, frm="in_transit", to="exception", actor=staff,
                      note="承运商报告途中延误，预计晚到 1–3 天")
                continue
            if "delivered" not in reached:
                continue
            delivered = times["delivered"]
            req.update(status="delivered", delivered_at=delivered)
            receiver = f"{SURNAMES[int(rng.integers(0, len(SURNAMES)))]}" \
                       f"{RECEIVERS[int(rng.integers(0, len(RECEIVERS)))]}"
            event(rid, "status", delivered, frm="arrived", to="delivered", actor=staff,
                  handover=(receiver, delivered, f"handover/{rid:06d}.jpg"))
            # claims and the rating
            damage = rng.random() < carrier["damage"]
            delayed = late and rng.random() < 0.35
            cover = Decimal(carrier["cover"]) * cars
            for kind, happened in (("damage", damage), ("delay", delayed)):
                if not happened:
                    continue
                amount = (Decimal(int(rng.integers(2, 40)) * 500) if kind == "damage"
                          else Decimal(int(rng.integers(2, 10)) * 100) * cars)
                amount = min(amount, cover)
                filed = delivered + timedelta(hours=float(rng.uniform(2, 48)))
                if filed > now:
                    continue
                outcome = rng.random()
                decided = filed + timedelta(days=float(rng.uniform(2, 10)))
                status = ("open" if decided > now or outcome < 0.1 else
                          "settled" if outcome < 0.8 else "rejected")
                settled = ((amount * Decimal(str(round(float(rng.uniform(0.6, 1.0)), 2))))
                           .quantize(Decimal("0.01")) if status == "settled" else None)
                response = ("同意按核定金额赔付" if status == "settled" else
                            "不认可：交车时未提出异议" if status == "rejected" else None)
                desc = ("交车时发现车身划痕，需钣喷修复" if kind == "damage"
                        else "晚于要求到达日交车，商户损失展厅排期")
                claims.append({"r": rid, "c": carrier["id"], "k": kind, "a": amount,
                               "cov": cover, "e": f"claims/{rid:06d}-{kind}.jpg", "d": desc,
                               "resp": response, "s": status, "sa": settled, "by": staff,
                               "at": filed, "dby": staff if status in ("settled", "rejected")
                               else None, "dat": decided if status in ("settled", "rejected")
                               else None})
                event(rid, "claim", filed, to="open", actor=staff, note=desc)
                if status in ("settled", "rejected"):
                    event(rid, "claim", decided, frm="open", to=status, actor=staff,
                          note=response)
            if rng.random() < 0.7:
                mean = carrier["stars"] - (1.2 if late else 0) - (1.5 if damage else 0)
                stars = int(min(5, max(1, round(float(rng.normal(mean, 0.8))))))
                complaint = stars <= 2 and rng.random() < 0.6
                rated = delivered + timedelta(hours=float(rng.uniform(3, 72)))
                if rated <= now:
                    comment = ("准时送达，车况良好" if stars >= 4 else
                               "交车晚了，沟通不及时" if stars <= 2 else None)
                    ratings.append({"r": rid, "m": merchant, "c": carrier["id"], "s": stars,
                                    "x": complaint, "t": comment, "at": rated})
                    note = "★" * stars + "☆" * (5 - stars) + (f" {comment}" if comment else "")
                    event(rid, "rating", rated, note=note)

    # ---------------------------------------------------------------- loads
    groups: dict[tuple, list[dict]] = {}
    for req in requests:
        if req["group"] is not None and req["carrier"] is not None and req["truck"] == "large" \
                and req["status"] != "cancelled":
            groups.setdefault(req["group"], []).append(req)
    capacity = pricing.capacity("large")
    for key, members in groups.items():
        members = [m for m in members]
        while sum(m["cars"] for m in members) > capacity:
            members.pop()
        if len(members) < 2:
            continue
        load_id = len(loads) + 1
        statuses = {m["status"] for m in members}
        status = ("done" if statuses == {"delivered"} else
                  "departed" if statuses - {"ordered"} else "open")
        confirmed = max(m["ordered_at"] for m in members)
        loads.append({"id": load_id, "c": key[3], "from": key[0], "to": key[1], "day": key[2],
                      "cars": sum(m["cars"] for m in members), "s": status,
                      "by": members[0]["assignee"], "at": confirmed, "cap": capacity})
        for m in members:
            m["load"] = load_id
            event(m["id"], "booked", confirmed, actor=m["assignee"], note=f"#{load_id}")

    # ---------------------------------------------------------------- write
    if loads:
        conn.execute(sa.text("""
            INSERT INTO lgx.loads (id, carrier_id, truck_type, capacity, from_city_id, to_city_id,
                                   depart_date, cars_booked, status, confirmed_by, confirmed_at)
            VALUES (:id, :c, 'large', :cap, :from, :to, :day, :cars, :s, :by, :at)"""), loads)
    conn.execute(sa.text("""
        INSERT INTO lgx.requests (id, merchant_id, source, from_city_id, to_city_id, ready_date,
            wanted_by, declared_value, cars, status, status_before_exception, exception_kind,
            carrier_id, truck_type, load_id, price_to_merchant, cost_from_carrier, assignee_id,
            created_by, created_at, ordered_at, picked_up_at, delivered_at)
        VALUES (:id, :merchant_id, :source, :from, :to, :ready, :wanted, :value, :cars, :status,
            :before, :exc, :carrier, :truck, :load, :price, :cost, :assignee, :created_by,
            :created_at, :ordered_at, :picked_up_at, :delivered_at)"""),
                 [{k: v for k, v in r.items() if k not in ("group", "km", "quote")}
                  for r in requests])
    conn.execute(sa.text("""INSERT INTO lgx.request_cars (request_id, trim_id, quantity)
                            VALUES (:r, :trim, :q)"""), cars_rows)
    if quotes:
        conn.execute(sa.text("""
            INSERT INTO lgx.quotes (id, request_id, carrier_id, truck_type, kind, distance_km,
                                    price_per_car, total, transit_days, recorded_by, recorded_at)
            VALUES (:id, :r, :c, :t, 'estimate', :km, :ppc, :total, :days, :by, :at)"""), quotes)
        conn.execute(sa.text("UPDATE lgx.requests SET quote_id = :q WHERE id = :r"),
                     [{"q": r["quote"], "r": r["id"]} for r in requests if r["quote"]])
    events.sort(key=lambda e: (e["at"], e["r"]))
    conn.execute(sa.text("""
        INSERT INTO lgx.request_events (request_id, kind, from_status, to_status, note,
                                        handover_receiver, handover_at, handover_photo_ref,
                                        actor_id, at)
        VALUES (:r, :k, :f, :t, :n, :hr, :ha, :hp, :a, :at)"""), events)
    if claims:
        conn.execute(sa.text("""
            INSERT INTO lgx.claims (request_id, carrier_id, kind, amount, cover, evidence_ref,
                                    description, carrier_response, status, settled_amount,
                                    filed_by, filed_at, decided_by, decided_at)
            VALUES (:r, :c, :k, :a, :cov, :e, :d, :resp, :s, :sa, :by, :at, :dby, :dat)"""),
                     claims)
    if ratings:
        conn.execute(sa.text("""
            INSERT INTO lgx.ratings (request_id, merchant_id, carrier_id, stars, complaint,
                                     comment, rated_at)
            VALUES (:r, :m, :c, :s, :x, :t, :at)"""), ratings)
    for table in ("carriers", "loads", "requests", "quotes"):
        db.execute(conn, f"""SELECT setval(pg_get_serial_sequence('lgx.{table}', 'id'),
                                           coalesce((SELECT max(id) FROM lgx.{table}), 0) + 1,
                                           false)""")
    summary.requests = len(requests)
    for r in requests:
        summary.by_status[r["status"]] = summary.by_status.get(r["status"], 0) + 1
    summary.quotes, summary.loads = len(quotes), len(loads)
    summary.claims, summary.ratings = len(claims), len(ratings)
    return summary

