"""The demo's self-operated stock (自营车源, issue 21): the platform's warehouses and its own
cars, so the stock page's list, ageing chart and markdown list have something to show.

Warehouses (``WAREHOUSES``): Tianjin, Shanghai, Guangzhou and Chengdu, cities of app.cities
(the real city list). One merchant, "平台自营" (a large resource dealer, enterprise
certified), lists every car on the marketplace (app.listings, is_self_operated, quantity 1,
in its warehouse's city), as console/inventory's services expect.

Cars (``CARS`` per scale: 300 small, 400 demo, 3,000 large) of the 80 best-selling active
trims with a guide price of 80,000–800,000 yuan whose guide price has not moved in the last
200 days (so a listing's guide price is its trim's at publication):

* the market's discount of the series (下X点) = its usual discount as the authenticity scan
  computes it (the median points below guide of its listings, parallel imports left out);
  purchase cost = guide price × (1 − that − 2.5 to 5 points), rounded to ¥100: the platform
  buys a few points under what the market sells at, in volume, as a resource dealer does;
* first asking price = guide price × (1 − that + 0 to 1 point), rounded to ¥100, never above
  the guide price, so the car sits at its series' usual discount beside the other listings;
  floor price = cost × (1 − 0.5 to + 0.8%), rounded to ¥100, never above the asking price;
* days in stock of the cars not sold: exponential with a mean of 45 days, at most 150, so
  every age band (0–30, 31–60, 61–90, 90+) is populated and the young ones are the most;
  each car over 40 days old was marked down to its 31–60 band's price with a probability of
  0.4 (a price change on day 31–40 by an ops person, the reason in words), and over 70 days
  to its 61–90 band's price with 0.3 (day 61–70): holding.suggested_markdown's rule, so the
  markdown list holds cars already at their band's price and cars still waiting;
* a quarter sold: bought 10 to 150 days ago, sold after 3 days to all but one of them, at a
  price between the floor and the asking price, the holding cost of its days and the realised
  margin frozen as sales.sell freezes them; its deal written by the desk's own writer
  (sales.record_order: the listing sold, a completed order at the sale's moment, paid
  directly), so GMV's self-operated part holds the demo's sales;
* 8% of the rest reserved in the last three days.

Buyers (of sales and reservations): active merchants that buy on the platform (they posted a
request) and were certified before the stock's first day.

Days are counted back from the world's anchor (the demo's "now"): nothing is dated after it,
as nothing else in app is, and the seed alone decides every row (its own random stream; every
time written, change times included, so the demo's content hash holds). Written last in the
seed, after the loans, VIP and logistics history, which therefore draw nothing from it. The
platform's merchant has an approved enterprise certification before its first listing, as
every seller has. No audit rows are written (the audit log stamps its own time and is
hash-chained), as for the demo's loans and logistics.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa

from console import db
from console.checks import make_uscc, make_vin
from console.inventory import holding, sales
from console.services.listing_review import MIN_SERIES_SAMPLE

STREAM = 110                 # migration 110's number: nothing else's random stream moves
CARS = {"small": 300, "demo": 400, "large": 3_000}
MAX_DAYS = 150
MEAN_DAYS = 45
SOLD_SHARE = 0.25
RESERVED_SHARE = 0.08
PLATFORM = "平台自营"
PLATFORM_PHONE = "13900000001"
WAREHOUSES = (("天津", "天津东疆保税仓", "天津港保税区东疆港区呼伦贝尔路 416 号"),
              ("上海", "上海嘉定安亭仓", "上海市嘉定区安亭镇墨玉南路 888 号"),
              ("广州", "广州番禺汽车城仓", "广州市番禺区石楼镇汽车城大道 1 号"),
              ("成都", "成都龙泉驿仓", "成都市龙泉驿区经开区车城东七路 99 号"))
COLOURS = ("白色", "黑色", "灰色", "银色", "蓝色", "红色")
INTERIORS = ("黑色", "米色", "棕色")
VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
SHANGHAI = ZoneInfo("Asia/Shanghai")
REASON_31 = "库龄超30天，按库龄段价位调价"
REASON_61 = "库龄超60天，按库龄段价位调价"


@dataclass
class Summary:
    warehouses: int = 0
    cars: int = 0
    sold: int = 0
    reserved: int = 0
    price_changes: int = 0


def _hundred(value: float) -> Decimal:
    return (Decimal(str(value)) / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP) * 100


def _at(day: date, hour: float) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SHANGHAI) + timedelta(hours=hour)


def _band_price(first_asking: Decimal, floor: Decimal, days: int, t: holding.Terms) -> Decimal:
    s = holding.suggested_markdown(first_asking=first_asking, asking=first_asking, floor=floor,
                                   days=days, t=t)
    return s.price if s.price is not None else first_asking


def write(conn: sa.Connection, *, seed: int, scale: str, anchor: datetime) -> Summary:
    """The stock's demo rows in the seed's transaction. Nothing when warehouses exist
    already, or when there is no ops person, city, trim or merchant to use."""
    summary = Summary()
    if db.scalar(conn, "SELECT EXISTS (SELECT 1 FROM inv.warehouses)"):
        return summary
    staff = [r["id"] for r in db.fetch_all(conn, """
        SELECT id FROM ops.staff WHERE 'ops' = ANY(roles) AND is_active ORDER BY id""")]
    cities = {r["short_name"]: r["id"] for r in db.fetch_all(conn, """
        SELECT DISTINCT ON (short_name) short_name, id FROM app.cities
        WHERE short_name = ANY(:names) ORDER BY short_name, tier_level, id""",
                                                             names=[w[0] for w in WAREHOUSES])}
    # The last day anything happens: the day before the anchor (the anchor is a midnight).
    last = (anchor.astimezone(SHANGHAI) - timedelta(days=1)).date()
    # The market's discount of a series is the one the authenticity scan and matching use
    # (ops.series_norms_derived, migration 116: parallel imports left out).
    trims = db.fetch_all(conn, """
        SELECT t.id, t.guide_price, se.brand_id, coalesce(u.usual_points, 5) AS usual_points
        FROM app.trims t JOIN app.series se ON se.id = t.series_id
        LEFT JOIN ops.series_norms_derived(:min_n) u ON u.series_id = t.series_id
        WHERE t.is_active AND t.guide_price BETWEEN 80000 AND 800000
          AND NOT EXISTS (SELECT 1 FROM app.trim_price_history h
                          WHERE h.trim_id = t.id AND h.source = 'manufacturer'
                            AND h.changed_at > CAST(:since AS timestamptz))
        ORDER BY se.sales_count DESC, t.id LIMIT 80""",
                         since=_at(last - timedelta(days=200), 0), min_n=MIN_SERIES_SAMPLE)
    # Who buys from the desk: active dealers that buy on the platform (they posted a request)
    # and were certified before the stock's first day, so every sale and reservation, whatever
    # its day, goes to a merchant that could trade then.
    buyers = [r["id"] for r in db.fetch_all(conn, """
        SELECT m.id FROM app.merchants m
        WHERE m.status = 'active'
          AND EXISTS (SELECT 1 FROM app.requests r WHERE r.merchant_id = m.id)
          AND EXISTS (SELECT 1 FROM app.certifications c
                      WHERE c.merchant_id = m.id AND c.status = 'approved'
                        AND c.decided_at < CAST(:first AS timestamptz))
        ORDER BY m.id""", first=_at(last - timedelta(days=MAX_DAYS + 1), 0))]
    if not staff or len(cities) < len(WAREHOUSES) or not trims or not buyers:
        return summary
    rng = np.random.default_rng([seed, STREAM])
    t = holding.terms()

    # ---------------------------------------------------------------- the warehouses
    warehouse_ids, warehouse_city = [], {}
    for short, name, address in WAREHOUSES:
        wid = db.scalar(conn, """INSERT INTO inv.warehouses (name, city_id, address, created_at)
                                 VALUES (:n, :c, :a, :at) RETURNING id""",
                        n=name, c=cities[short], a=address,
                        at=_at(last - timedelta(days=MAX_DAYS + 60), 9))
        warehouse_ids.append(wid)
        warehouse_city[wid] = cities[short]
    summary.warehouses = len(warehouse_ids)
    platform = db.scalar(conn, """
        INSERT INTO app.merchants (name, merchant_type, size_class, city_id, channel,
                                   registered_at, status, cert_level, phone, contact_name,
                                   updated_at)
        VALUES (:n, 'resource', 'large', :c, 'partner', :at, 'active', 'enterprise', :p,
                '平台采购部', :at) RETURNING id""",
                         n=PLATFORM, c=cities["上海"], p=PLATFORM_PHONE,
                         at=_at(last - timedelta(days=MAX_DAYS + 90), 10))
    db.execute(conn, """
        INSERT INTO app.certifications (merchant_id, kind, status, company_name, uscc, legal_rep,
                                        submitted_at, decided_at, reviewer_id, updated_at)
        VALUES (:m, 'enterprise', 'approved', '平台自营汽车销售（上海）有限公司', :u, '平台法人',
                :sub, :dec, :by, :dec)""",
               m=platform, u=make_uscc("310114", f"PT{seed % 10**7:07d}"),
               sub=_at(last - timedelta(days=MAX_DAYS + 88), 10),
               dec=_at(last - timedelta(days=MAX_DAYS + 87), 15), by=staff[0])

    # ---------------------------------------------------------------- the cars
    n = CARS.get(scale, CARS["small"])
    weights = np.linspace(2.0, 0.5, len(trims))
    picks = rng.choice(len(trims), size=n, p=weights / weights.sum())
    sold = rng.random(n) < SOLD_SHARE
    existing = set()
    cars, changes = [], []
    for i in range(n):
        trim = trims[int(picks[i])]
        guide = float(trim["guide_price"])
        usual = float(trim["usual_points"]) / 100
        cost = _hundred(guide * (1 - usual - rng.uniform(0.025, 0.05)))
        first_asking = min(_hundred(guide * (1 - usual + rng.uniform(0.0, 0.01))),
                           Decimal(str(guide)).quantize(Decimal("0.01")))
        floor = min(_hundred(float(cost) * (1 + rng.uniform(-0.005, 0.008))), first_asking)
        if sold[i]:
            age = int(rng.integers(10, MAX_DAYS + 1))
        else:
            age = min(MAX_DAYS, int(rng.exponential(MEAN_DAYS)))
        purchased = last - timedelta(days=age + 1)   # published the next day, by the last
        kept = int(rng.integers(3, age)) if sold[i] else age      # days until its sale
        asking = first_asking
        for start, reason, p in ((31, REASON_31, 0.4), (61, REASON_61, 0.3)):
            if kept > start + 9 and rng.random() < p:
                day = start + int(rng.integers(0, 10))
                new = max(_band_price(first_asking, floor, day, t), floor)
                if new < asking:
                    changes.append({"car": i, "ab": asking, "aa": new, "fb": floor, "fa": floor,
                                    "why": reason, "by": staff[int(rng.integers(0, len(staff)))],
                                    "at": _at(purchased + timedelta(days=day),
                                              float(rng.uniform(9, 18)))})
                    asking = new
        brand = int(trim["brand_id"])
        wmi = "L" + VIN_ALPHABET[brand % 23] + VIN_ALPHABET[(brand * 7) % 33]
        while True:   # unique among the stock and every listing's VIN
            parts = "".join(VIN_ALPHABET[j] for j in rng.integers(0, len(VIN_ALPHABET), 6))
            vin = make_vin(wmi, parts[:5], "S", parts[5], f"{int(rng.integers(0, 10**6)):06d}")
            if vin not in existing:
                existing.add(vin)
                break
        warehouse = warehouse_ids[int(rng.integers(0, len(warehouse_ids)))]
        car = {"i": i, "trim": trim["id"], "guide": trim["guide_price"], "vin": vin,
               "colour": COLOURS[int(rng.integers(0, len(COLOURS)))],
               "interior": INTERIORS[int(rng.integers(0, len(INTERIORS)))],
               "warehouse": warehouse, "city": warehouse_city[warehouse], "cost": cost,
               "purchased": purchased, "asking": asking, "floor": floor,
               "published": _at(purchased + timedelta(days=1), float(rng.uniform(9, 18))),
               "status": "in_stock", "reserved_for": None, "reserved_by": None,
               "reserved_at": None, "sold_to": None, "sold_by": None, "sold_at": None,
               "sold_price": None, "holding": None, "margin": None}
        if sold[i]:
            sold_day = purchased + timedelta(days=kept)
            price = _hundred(float(floor) + float(asking - floor) * rng.uniform(0.3, 1.0))
            price = min(max(price, floor), asking)
            held = holding.holding_cost(cost, kept, t)
            car.update(status="sold", sold_to=buyers[int(rng.integers(0, len(buyers)))],
                       sold_by=staff[int(rng.integers(0, len(staff)))],
                       sold_at=_at(sold_day, float(rng.uniform(10, 17))), sold_price=price,
                       holding=held, margin=holding.margin(price, cost, held))
        elif rng.random() < RESERVED_SHARE:
            car.update(status="reserved", reserved_for=buyers[int(rng.integers(0, len(buyers)))],
                       reserved_by=staff[int(rng.integers(0, len(staff)))],
                       reserved_at=_at(last - timedelta(days=int(rng.integers(0, 3))),
                                       float(rng.uniform(9, 12))))
        cars.append(car)
    taken = {r[0] for r in conn.execute(sa.text(
        "SELECT vin FROM app.listings WHERE vin = ANY(:v)"), {"v": sorted(existing)})}
    cars = [c for c in cars if c["vin"] not in taken]

    # ---------------------------------------------------------------- listings, then stock
    conn.execute(sa.text("""
        INSERT INTO app.listings (merchant_id, trim_id, exterior_color, interior_color, quantity,
                                  city_id, price, guide_price, available_from, vin,
                                  is_parallel_import, is_self_operated, status, published_at,
                                  stock_confirmed_at, updated_at)
        VALUES (:m, :trim, :colour, :interior, 1, :city, :asking, :guide, :purchased, :vin,
                false, true, 'live', :published, :published, :published)"""),
                 [{**c, "m": platform} for c in cars])
    listing_of = {r[1]: r[0] for r in conn.execute(sa.text(
        "SELECT id, vin FROM app.listings WHERE merchant_id = :m"), {"m": platform})}
    # A sold car's deal, as the desk's sale writes it (its listing sold, a completed order at
    # the sale's moment): GMV's self-operated part counts the demo's sales. In car order, so
    # the orders' ids follow the seed.
    for c in cars:
        c["order"] = sales.record_order(conn, listing_id=listing_of[c["vin"]],
                                        buyer_id=c["sold_to"], price=c["sold_price"],
                                        at=c["sold_at"]) if c["status"] == "sold" else None
    conn.execute(sa.text("""
        INSERT INTO inv.stock_cars (listing_id, trim_id, vin, exterior_color, warehouse_id,
                                    purchase_cost, purchase_date, asking_price, floor_price,
                                    status, reserved_for, reserved_by, reserved_at, sold_to,
                                    sold_by, sold_at, sold_price, holding_cost, realised_margin,
                                    order_id, created_at)
        VALUES (:listing, :trim, :vin, :colour, :warehouse, :cost, :purchased, :asking, :floor,
                :status, :reserved_for, :reserved_by, :reserved_at, :sold_to, :sold_by, :sold_at,
                :sold_price, :holding, :margin, :order, :published)"""),
                 [{**c, "listing": listing_of[c["vin"]]} for c in cars])
    car_of = {r[1]: r[0] for r in conn.execute(sa.text("SELECT id, vin FROM inv.stock_cars"))}
    vin_of = {c["i"]: c["vin"] for c in cars}
    rows = [{**ch, "id": car_of[vin_of[ch["car"]]]} for ch in changes if ch["car"] in vin_of]
    if rows:
        conn.execute(sa.text("""
            INSERT INTO inv.price_changes (stock_car_id, asking_before, asking_after,
                                           floor_before, floor_after, reason, changed_by,
                                           changed_at)
            VALUES (:id, :ab, :aa, :fb, :fa, :why, :by, :at)"""), rows)
    summary.cars = len(cars)
    summary.sold = sum(c["status"] == "sold" for c in cars)
    summary.reserved = sum(c["status"] == "reserved" for c in cars)
    summary.price_changes = len(rows)
    return summary
