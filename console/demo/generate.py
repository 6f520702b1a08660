"""The demo world as column arrays: one function per table, in foreign-key order.

Times are int64 seconds since the epoch, ``NA`` (-1) meaning NULL; ids are 1-based positions,
so array index ``i`` is row id ``i + 1``. Everything draws from one seeded numpy Generator in
a fixed order, so one seed always gives the same world.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from console.checks import make_vin
from console.demo import model as M
from console.demo import people, prices
from console.demo import reference as ref
from console.finance.fees import schedule as fee_schedule
from etl.checks import PRICE_BAND

# The escrow service fee by the buyer's size class (console/finance/fees.toml), as floats: the
# world is drawn in floats and rounded to the cent once, as before the schedule was a file.
ESCROW_FEE_RATE = {k: float(v) for k, v in fee_schedule().rates.items()}

NA = -1
DAY, HOUR = M.DAY, M.HOUR


@dataclass
class Table:
    name: str                   # schema-qualified
    columns: dict[str, object]  # column -> numpy array or list, all of one length

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


@dataclass
class World:
    """What later generators need to know about earlier tables (never written as such)."""
    scale: M.Scale
    anchor: int
    start: int
    rng: np.random.Generator
    tables: dict[str, Table] = field(default_factory=dict)
    staff_ids: dict[str, list[int]] = field(default_factory=dict)  # role -> ids

    def add(self, table: Table) -> Table:
        self.tables[table.name] = table
        return table


def _round(x: np.ndarray, step: float) -> np.ndarray:
    return np.round(np.asarray(x, dtype=float) / step) * step


def _pick(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """n indices drawn with the given (unnormalised) weights."""
    cum = np.cumsum(weights, dtype=float)
    return np.searchsorted(cum, rng.random(n) * cum[-1], side="right").clip(0, len(weights) - 1)


def _uniform_between(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.maximum(np.asarray(hi, dtype=np.int64), lo)
    return lo + (rng.random(len(lo)) * (hi - lo)).astype(np.int64)


# ==================================================================== staff
STAFF = (  # username, display name, roles
    ("ops1", "王芳", ["ops"]), ("ops2", "李娜", ["ops"]), ("ops3", "张敏", ["ops"]),
    ("bd1", "刘洋", ["bd"]), ("bd2", "陈磊", ["bd"]), ("bd3", "杨勇", ["bd"]),
    ("bd4", "黄超", ["bd"]), ("bd5", "赵婷", ["bd"]), ("bd6", "吴浩", ["bd"]),
    ("risk1", "周静", ["risk"]), ("risk2", "徐鹏", ["risk"]),
    ("manager1", "孙建国", ["manager"]), ("admin1", "马文", ["admin"]),
    ("lead1", "朱海峰", ["ops", "risk", "manager"]),  # one person, several roles
)


def staff(w: World) -> Table:
    created = w.start - 60 * DAY
    for i, (_, _, roles) in enumerate(STAFF, start=1):
        for role in roles:
            w.staff_ids.setdefault(role, []).append(i)
    return w.add(Table("ops.staff", {
        "id": np.arange(1, len(STAFF) + 1),
        "username": [s[0] for s in STAFF],
        "display_name": [s[1] for s in STAFF],
        "roles": [s[2] for s in STAFF],
        "created_at": np.full(len(STAFF), created),
        "updated_at": np.full(len(STAFF), created),
    }))


# ==================================================================== vehicle library and cities
def library(w: World) -> None:
    cs = ref.cities()
    w.add(Table("app.cities", {
        "id": [c.id for c in cs], "name": [c.name for c in cs], "short_name": [c.short_name for c in cs],
        "adcode": [c.adcode for c in cs], "province": [c.province for c in cs],
        "tier_level": [c.tier_level for c in cs], "tier_name": [c.tier_name for c in cs],
        "longitude": [c.longitude for c in cs], "latitude": [c.latitude for c in cs]}))
    brand_names = ref.brands()
    brand_id = {b: i for i, b in enumerate(brand_names, start=1)}
    initials = ref.brand_initials()
    w.add(Table("app.brands", {"id": list(range(1, len(brand_names) + 1)), "name": brand_names,
                               "initial": [initials.get(b) for b in brand_names]}))
    ss = ref.series()
    w.add(Table("app.series", {
        "id": [s.id for s in ss], "brand_id": [brand_id[s.brand] for s in ss],
        "name": [s.name for s in ss], "manufacturer": [s.manufacturer for s in ss],
        "min_guide_price": [s.min_price for s in ss], "max_guide_price": [s.max_price for s in ss],
        "sales_count": [s.sales_count for s in ss], "energy_type": [s.energy_type for s in ss],
        "origin": [s.origin for s in ss]}))
    trims = ref.make_trims(w.rng)
    n = len(trims)
    current = np.array([t.guide_price for t in trims])
    # One trim in ten had a price cut of 3-8% during the history: listings published before
    # the cut were quoted against the old guide price.
    cut = w.rng.random(n) < 0.10
    cut_at = np.where(cut, _uniform_between(w.rng, np.full(n, w.start + 30 * DAY),
                                            np.full(n, w.anchor - 20 * DAY)), NA)
    initial = np.where(cut, _round(current / (1 - w.rng.uniform(0.03, 0.08, n)), 100), current)
    launched = w.start - 45 * DAY
    w.add(Table("app.trims", {
        "id": [t.id for t in trims], "series_id": [t.series_id for t in trims],
        "name": [t.name for t in trims], "model_year": [t.model_year for t in trims],
        "guide_price": current, "energy_type": [t.energy_type for t in trims],
        "is_active": np.ones(n, dtype=bool), "created_at": np.full(n, launched),
        "updated_at": np.where(cut, cut_at, launched)}))
    cut_idx = np.flatnonzero(cut)
    w.add(Table("app.trim_price_history", {
        "id": np.arange(1, n + len(cut_idx) + 1),
        "trim_id": np.concatenate([np.arange(1, n + 1), cut_idx + 1]),
        "old_price": np.concatenate([np.full(n, np.nan), initial[cut_idx]]),
        "new_price": np.concatenate([initial, current[cut_idx]]),
        "changed_at": np.concatenate([np.full(n, launched), cut_at[cut_idx]]),
        "source": ["seed"] * n + ["manufacturer"] * len(cut_idx)}))
    w.trim_series = np.array([t.series_id for t in trims])          # type: ignore[attr-defined]
    w.trim_initial, w.trim_current, w.trim_cut_at = initial, current, cut_at  # type: ignore[attr-defined]
    series_weight = np.array([s.weight for s in ss])
    per_series = np.bincount(w.trim_series, minlength=len(ss) + 1)[w.trim_series]
    w.trim_weight = series_weight[w.trim_series - 1] / per_series    # type: ignore[attr-defined]
    w.trim_brand = np.array([brand_id[ss[s - 1].brand] for s in w.trim_series])  # type: ignore[attr-defined]
    w.trim_import = np.array([ss[s - 1].origin == "import" for s in w.trim_series])  # type: ignore[attr-defined]
    w.trim_year = np.array([t.model_year for t in trims])           # type: ignore[attr-defined]
    w.brand_weight = np.bincount(w.trim_brand, weights=w.trim_weight)  # type: ignore[attr-defined]


def _discounts(w: World) -> prices.SeriesDiscounts:
    """Every series' usual discount and its drift, drawn once per world from the price stream."""
    if "price_discounts" not in w.__dict__:
        w.price_discounts = prices.series_discounts(prices.price_rng(w.rng), w.anchor)  # type: ignore[attr-defined]
    return w.price_discounts  # type: ignore[attr-defined]


def guide_at(w: World, trim_idx: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The trim's guide price in force at time t."""
    cut_at = w.trim_cut_at[trim_idx]
    before_cut = (cut_at != NA) & (t < cut_at)
    return np.where(before_cut, w.trim_initial[trim_idx], w.trim_current[trim_idx])


# ==================================================================== merchants
def merchants(w: World) -> Table:
    rng, n = w.rng, w.scale.merchants
    f = np.sort(rng.power(M.REGISTRATION_GROWTH, n))  # time fraction of the history, growing
    reg = (w.start + f * (M.HISTORY_DAYS * DAY - 2 * HOUR)).astype(np.int64)
    cum = (1 - f)[:, None] * np.cumsum(M.TIER_SHARE_EARLY) + f[:, None] * np.cumsum(M.TIER_SHARE_LATE)
    tier = 1 + (rng.random(n)[:, None] > cum).sum(axis=1).clip(0, 5)
    cities = ref.cities()
    city_tier = np.array([c.tier_level for c in cities])
    city_pull = rng.lognormal(0, 0.6, len(cities))  # some cities are bigger car markets
    city = np.empty(n, dtype=np.int64)
    for t in range(1, 7):
        members = np.flatnonzero(city_tier == t)
        rows = np.flatnonzero(tier == t)
        city[rows] = members[_pick(rng, city_pull[members], len(rows))] + 1
    big_city = tier <= 2
    type_p = np.where(big_city[:, None], [0.27, 0.43, 0.20, 0.10], [0.30, 0.50, 0.17, 0.03])
    mtype = (rng.random(n)[:, None] > np.cumsum(type_p, axis=1)).sum(axis=1).clip(0, 3)
    large = rng.random(n) < np.array([0.55, 0.12, 0.45, 0.30])[mtype]
    channel = _pick(rng, M.CHANNEL_SHARE, n)
    q = rng.standard_normal(n)  # latent quality: never written
    brand = _pick(rng, w.brand_weight, n)  # a 4S dealer's franchise
    owned_p = np.array([1.0, 0.5, 0.35, 0.4, 0.8, 0.8])[channel]
    bd = np.array(w.staff_ids["bd"])
    bd_pull = np.linspace(1.6, 0.8, len(bd))  # senior BDs own more merchants
    owner = np.where(rng.random(n) < owned_p, bd[_pick(rng, bd_pull, n)], NA)
    phone = people.phones(rng, n)
    shared = np.flatnonzero(rng.random(n) < 0.01)
    shared = shared[shared > 0]
    phone[shared] = phone[(rng.random(len(shared)) * shared).astype(np.int64)]
    vip = np.where(large, rng.choice([0, 1, 2, 3, 4, 5], n, p=[0.3, 0.25, 0.2, 0.13, 0.08, 0.04]),
                   rng.choice([0, 1, 2], n, p=[0.8, 0.15, 0.05]))
    trade = people.trade_names(rng, n)
    contact = people.person_names(rng, n)
    brand_names = ref.brands()
    city_short = np.array([c.short_name for c in cities])[city - 1]
    types = M.MERCHANT_TYPES[mtype]
    names = [f"{cs}{tr}{people.SHOP_SUFFIX[ty].format(brand=brand_names[b - 1] if b > 0 else '')}"
             for cs, tr, ty, b in zip(city_short, trade, types, brand)]
    w.m_reg, w.m_q, w.m_type, w.m_large, w.m_city = reg, q, types, large, city  # type: ignore[attr-defined]
    w.m_brand, w.m_trade, w.m_contact, w.m_channel = brand, trade, contact, channel  # type: ignore[attr-defined]
    w.m_city_short, w.m_owner = city_short, owner  # type: ignore[attr-defined]
    return w.add(Table("app.merchants", {
        "id": np.arange(1, n + 1), "name": names, "merchant_type": types,
        "size_class": np.where(large, "large", "small"), "city_id": city,
        "channel": M.CHANNELS[channel], "registered_at": reg, "status": np.full(n, "active", dtype=object),
        "cert_level": np.full(n, "none", dtype=object), "bd_owner_id": owner, "vip_level": vip,
        "phone": phone, "contact_name": contact, "updated_at": reg.copy()}))


# ==================================================================== certifications
def certifications(w: World) -> Table:
    """Personal then enterprise certification, with planted defects, decisions and resubmissions."""
    rng, n = w.rng, w.scale.merchants
    q, reg = w.m_q, w.m_reg
    backlog_from = w.anchor - int(w.scale.cert_backlog_days * DAY)
    ops = w.staff_ids["ops"]
    counties = ref.counties_by_city_prefix()
    city_adcode = [c.adcode for c in ref.cities()]
    anchor_year = int(np.datetime64(w.anchor, "s").astype("datetime64[Y]").astype(int) + 1970)
    company_suffix = [people.COMPANY_SUFFIX[t] for t in w.m_type]
    rows: list[dict] = []
    approved_at = np.full(n, NA, dtype=np.int64)
    level = np.full(n, "none", dtype=object)
    issued_ids: list[str] = []
    issued_usccs: list[str] = []
    bad_rate = M.hazard(q, M.BAD_CHECK_RATE, 0.5, cap=0.4)
    dup_rate = M.hazard(q, M.DUPLICATE_IDENTITY_RATE, 0.8, cap=0.3)
    mis_rate = M.hazard(q, M.NAME_MISMATCH_RATE, 0.5, cap=0.4)
    submit_p = 1 / (1 + np.exp(-(1.2 + 0.6 * q + 0.6 * (w.m_channel == 0))))
    enterprise_p = 1 / (1 + np.exp(-(-0.4 + 1.6 * w.m_large + 0.7 * (w.m_type != "secondary") + 0.4 * q)))
    ent_pending: list[tuple[int, int]] = []

    def region_of(i: int) -> str:
        code = city_adcode[w.m_city[i] - 1]
        options = counties.get(code[:4], (code,))
        return options[int(rng.integers(0, len(options)))]

    def decide(i: int, kind: str, submitted: int, problem: str | None, doc: dict, previous: int | None):
        row = {"merchant_id": i + 1, "kind": kind, "submitted_at": submitted, "previous_id": previous,
               "status": "pending", "assignee_id": NA, "assigned_at": NA, "decided_at": NA,
               "reviewer_id": NA, "reason_code": None, "requested_doc": None, "snoozed_until": NA,
               "updated_at": submitted, **doc}
        rows.append(row)
        cert_id = len(rows)
        reviewer = int(rng.choice(ops))
        decided = submitted + int(rng.gamma(2.0, 0.6) * DAY) + int(rng.integers(600, 4 * HOUR))
        if submitted >= backlog_from or decided >= w.anchor:
            # Still in the queue: unassigned, or assigned and being reviewed (a few snoozed).
            if rng.random() < 0.55:
                assigned = min(w.anchor - 600, submitted + int(rng.integers(HOUR, 20 * HOUR)))
                row.update(status="in_review", assignee_id=reviewer, assigned_at=assigned,
                           updated_at=assigned)
                if rng.random() < 0.15:
                    row["snoozed_until"] = w.anchor + int(rng.integers(1, 4)) * DAY
            return cert_id, None
        row.update(assignee_id=reviewer, assigned_at=submitted + int(rng.integers(600, 6 * HOUR)),
                   reviewer_id=reviewer, updated_at=decided)
        row["assigned_at"] = min(row["assigned_at"], decided - 60)
        if problem is None and rng.random() < 0.02:
            problem = "other"
        if problem is None:
            row.update(status="approved", decided_at=decided)
            return cert_id, "approved"
        if problem == "unclear" or (problem == "mismatch" and rng.random() < 0.4):
            # Ask for a new upload; the decision is final, a resubmission is a new case.
            code = "document_unclear" if problem == "unclear" else "name_mismatch"
            if kind == "personal":
                requested = str(rng.choice(["id_front", "id_back", "id_in_hand"]))
            else:
                requested = "legal_rep_id" if doc.get("_mismatch") == "legal_rep" else "business_licence"
            row.update(status="needs_info", decided_at=decided, reason_code=code, requested_doc=requested)
            return cert_id, "needs_info"
        code = {"bad_check": "id_invalid" if kind == "personal" else "licence_invalid",
                "duplicate": "duplicate_identity", "mismatch": "name_mismatch", "other": "other"}[problem]
        row.update(status="rejected", decided_at=decided, reason_code=code)
        return cert_id, "rejected"

    def draw_problem(i: int, kind: str) -> str | None:
        u = rng.random()
        edges = np.cumsum([bad_rate[i], dup_rate[i], mis_rate[i] if kind == "enterprise" else 0,
                           M.UNCLEAR_DOC_RATE])
        for name, edge in zip(("bad_check", "duplicate", "mismatch", "unclear"), edges):
            if u < edge:
                return name
        return None

    def personal_doc(i: int, problem: str | None) -> dict:
        number = people.id_number(rng, region_of(i), anchor_year)
        if problem == "duplicate" and issued_ids:
            number = issued_ids[int(rng.integers(0, len(issued_ids)))]
        elif problem == "bad_check":
            number = people.spoil_id_check(number)
        else:
            issued_ids.append(number)
        return {"real_name": w.m_contact[i], "id_number": number,
                "id_doc_ref": f"certs/{i + 1}/id-{len(rows) + 1}.jpg"}

    def enterprise_doc(i: int, problem: str | None, legal_rep: str) -> dict:
        mismatch = ""
        code = people.uscc(rng, region_of(i)[:6])
        company = f"{w.m_city_short[i]}{w.m_trade[i]}{company_suffix[i]}"
        if problem == "duplicate" and issued_usccs:
            code = issued_usccs[int(rng.integers(0, len(issued_usccs)))]
        elif problem == "bad_check":
            code = people.spoil_uscc_check(code)
        else:
            issued_usccs.append(code)
        if problem == "mismatch":
            if rng.random() < 0.5:
                company = f"{w.m_city_short[i]}{people.trade_names(rng, 1)[0]}{company_suffix[i]}"
            else:
                legal_rep = people.person_names(rng, 1)[0]
                mismatch = "legal_rep"
        return {"company_name": company, "uscc": code, "legal_rep": legal_rep, "_mismatch": mismatch,
                "licence_doc_ref": f"certs/{i + 1}/licence-{len(rows) + 1}.jpg"}

    def run_chain(i: int, kind: str, submitted: int, legal_rep: str = "") -> int:
        """One certification and its resubmissions; returns the approval time or NA."""
        previous = None
        for attempt in range(3):
            if submitted >= w.anchor:
                return NA
            problem = draw_problem(i, kind) if attempt == 0 else (
                "unclear" if rng.random() < 0.1 else None)
            doc = personal_doc(i, problem) if kind == "personal" else enterprise_doc(i, problem, legal_rep)
            cert_id, outcome = decide(i, kind, submitted, problem, doc, previous)
            row = rows[cert_id - 1]
            if outcome == "approved":
                return int(row["decided_at"])
            if outcome is None or problem == "duplicate" or rng.random() > 0.65 / (1 + np.exp(-q[i])) * 1.4:
                return NA
            asked = int(row["updated_at"])
            submitted = asked + int(rng.exponential(2.5) * DAY) + int(rng.integers(HOUR, 8 * HOUR))
            if submitted >= w.anchor:
                return NA
            previous = cert_id
        return NA

    for i in range(n):
        if rng.random() >= submit_p[i]:
            continue
        first = reg[i] + int(rng.exponential(1.5) * DAY) + int(rng.integers(300, 3 * HOUR))
        personal_ok = run_chain(i, "personal", first)
        if personal_ok == NA:
            continue
        approved_at[i], level[i] = personal_ok, "personal"
        if rng.random() < enterprise_p[i]:
            ent_pending.append((i, personal_ok + int(rng.exponential(6) * DAY) + HOUR))
    for i, submitted in ent_pending:  # after all personal ones: duplicates can reuse any licence
        rep = w.m_contact[i] if rng.random() < 0.9 else people.person_names(rng, 1)[0]
        if run_chain(i, "enterprise", submitted, rep) != NA:
            level[i] = "enterprise"
    w.m_approved = approved_at  # type: ignore[attr-defined]
    mt = w.tables["app.merchants"].columns
    mt["cert_level"] = level
    cols = ("merchant_id", "kind", "status", "real_name", "id_number", "company_name", "uscc",
            "legal_rep", "licence_doc_ref", "id_doc_ref", "submitted_at", "assignee_id",
            "assigned_at", "snoozed_until", "decided_at", "reviewer_id", "reason_code",
            "requested_doc", "previous_id", "updated_at")
    # Sort by submission time so ids grow with time, remapping the previous_id links.
    order = sorted(range(len(rows)), key=lambda k: (rows[k]["submitted_at"], k))
    new_id = {old + 1: new + 1 for new, old in enumerate(order)}
    data = {c: [rows[k].get(c) for k in order] for c in cols}
    data["previous_id"] = [new_id[p] if p else NA for p in data["previous_id"]]
    for c in ("assignee_id", "assigned_at", "snoozed_until", "decided_at", "reviewer_id", "updated_at",
              "submitted_at"):
        data[c] = np.array(data[c], dtype=np.int64)
    data = {"id": np.arange(1, len(rows) + 1), **data}
    # The cert_submitted events keep the times the world drew (the event log and the KPIs
    # stay as they were); the open cases' rows move (below).
    w.cert_event_times = data["submitted_at"].copy()  # type: ignore[attr-defined]
    _open_queue_ages(w, data)
    return w.add(Table("app.certifications", data))


QUEUE_STREAM = 19         # the open queue's ages: their own stream [seed, 19]
# Hours an open case has waited at the demo's "now" (the anchor), in bands: (share of the
# queue, from, to). Most came in within the day, some are close to the 48 h SLA, a few are
# over it (console/services/trust_queue.py). A demo seeded today (model.today_anchor) shows
# them so to the person looking at it.
QUEUE_AGES = ((0.55, 0.5, 24.0), (0.30, 24.0, 44.0), (0.15, 49.0, 120.0))


def _open_queue_ages(w: World, data: dict) -> None:
    """Give the open certification cases (pending, in review) a believable spread of ages at
    the anchor: each case's own times (submitted, assigned, updated) move together, in the
    oldest-first order the world drew them, and never before the case's own draw (so never
    before the merchant registered, or before the decision its resubmission answers). The
    backlog the world drew was spread evenly over cert_backlog_days (12 days at the small
    scale): nearly every waiting case was over its SLA. No other row changes."""
    status = np.asarray(data["status"], dtype=object)
    open_rows = np.flatnonzero((status == "pending") | (status == "in_review"))
    n = len(open_rows)
    if not n:
        return
    seed = int(w.rng.bit_generator.seed_seq.entropy)
    pick = np.random.default_rng([seed, QUEUE_STREAM])
    # Each band's share as a count (at least one case over the SLA and one near it), so a
    # small queue keeps the shape too; the ages within a band are drawn.
    late = max(1, round(QUEUE_AGES[2][0] * n)) if n >= 3 else 0
    near = max(1, round(QUEUE_AGES[1][0] * n)) if n >= 3 else 0
    band = np.repeat([0, 1, 2], [n - near - late, near, late])
    lo = np.array([QUEUE_AGES[b][1] for b in band])
    hi = np.array([QUEUE_AGES[b][2] for b in band])
    ages = np.sort((lo + pick.random(n) * (hi - lo)) * HOUR)[::-1].astype(np.int64)
    order = open_rows[np.argsort(data["submitted_at"][open_rows], kind="stable")]
    for row, age in zip(order, ages):
        drawn = int(data["submitted_at"][row])
        submitted = max(drawn, w.anchor - int(age))
        moved = submitted - drawn
        data["submitted_at"][row] = submitted
        if data["assigned_at"][row] != NA:
            # Assigned within hours of coming in, and before now.
            taken = int(data["assigned_at"][row]) + moved
            data["assigned_at"][row] = max(submitted + 60, min(taken, w.anchor - 600))
        data["updated_at"][row] = max(submitted, int(data["assigned_at"][row]))


# ==================================================================== listings
# No generated listing is self-operated (自营): only the platform's merchant (平台自营) lists
# its own cars, its stock (console/demo/inventory.py), and their sales are GMV's self-operated
# part. A third of large resource dealers' listings were once flagged, before the stock sold
# through orders, so the growth page's GMV split had a self-operated part; the draw that picked
# them is still taken, so every later draw, and so every other row, stays the same.


def listings(w: World) -> Table:
    rng, total = w.rng, w.scale.listings
    q = w.m_q
    approved = w.m_approved
    active_span = np.where(approved != NA, (w.anchor - approved) / DAY, 0.0)
    type_factor = {"4s": 1.5, "secondary": 0.6, "resource": 2.5, "parallel_import": 1.4}
    weight = (np.array([type_factor[t] for t in w.m_type]) * np.where(w.m_large, 3.0, 1.0)
              * rng.lognormal(0, 0.8, len(q)) * np.exp(0.15 * q) * active_span)
    weight[rng.random(len(q)) < 0.2] = 0.0  # certified but never publishes: the funnel leaks
    counts = rng.multinomial(total, weight / weight.sum())
    seller = np.repeat(np.arange(len(q)), counts)
    published = _uniform_between(rng, approved[seller] + HOUR, np.full(total, w.anchor - 600))
    trim = _pick(rng, w.trim_weight, total)
    # A 4S dealer lists its own brand; a parallel importer lists imports.
    for b in np.unique(w.m_brand[seller][w.m_type[seller] == "4s"]):
        rows = np.flatnonzero((w.m_type[seller] == "4s") & (w.m_brand[seller] == b))
        members = np.flatnonzero(w.trim_brand == b)
        trim[rows] = members[_pick(rng, w.trim_weight[members], len(rows))]
    pi_rows = np.flatnonzero((w.m_type[seller] == "parallel_import") & (rng.random(total) < 0.8))
    imports = np.flatnonzero(w.trim_import)
    trim[pi_rows] = imports[_pick(rng, w.trim_weight[imports], len(pi_rows))]
    guide = guide_at(w, trim, published)
    # 下X点 around the series' usual discount at publication, from its brand group (prices.py).
    disc, s_idx = _discounts(w), w.trim_series[trim] - 1
    points = prices.listing_points(disc, s_idx, published, rng.beta(1.6, 2.4, total))
    price = guide * (1 - points / 100)
    # 加价: hot models of brands that sell near list price are quoted above guide.
    premium = ((rng.random(total) < M.PRICE_PREMIUM_RATE)
               & (disc.usual(s_idx, published) < prices.PREMIUM_BELOW))
    price = np.where(premium, guide + rng.choice([5_000, 10_000, 20_000], total), price)
    price = np.minimum(price, guide * 1.25)
    outlier = rng.random(total) < M.hazard(q[seller], M.PRICE_OUTLIER_RATE, 0.7, cap=0.05)
    price = np.where(outlier, guide * (1 - prices.outlier_points(disc, s_idx, published,
                                                                 rng.random(total)) / 100), price)
    # Rounded to ¥100, never under half the guide price (the ETL's implausibility band,
    # etl/checks.py PRICE_BAND: a price under it is quarantined, so no mart would see it). The
    # guide at publication is the trim's current one or, before a price cut, above it.
    price = np.maximum(_round(price, 100), np.ceil(guide * PRICE_BAND[0] / 100) * 100)
    fake = rng.random(total) < M.hazard(q[seller], 0.012, 1.2, cap=0.2)
    age = (w.anchor - published) / DAY
    lifetime = rng.exponential(40, total)
    status = np.where(age < lifetime, "live",
                      rng.choice(["expired", "withdrawn", "sold"], total, p=[0.55, 0.3, 0.15])).astype(object)
    status[fake & (age > 14) & (rng.random(total) < 0.5)] = "taken_down"
    updated = np.where(status == "live", published,
                       np.minimum(w.anchor - 60, published + (np.minimum(lifetime, age) * DAY).astype(np.int64)))
    large = w.m_large[seller]
    quantity = np.where(large, rng.integers(1, 11, total), rng.choice([1, 1, 1, 1, 2, 3], total))
    vin = _vins(w, trim, seller, rng.random(total) < M.VIN_SHARE)
    rng.random(total)  # the draw that once picked self-operated listings: kept, unused
    self_operated = np.zeros(total, dtype=bool)
    pi_flag = (w.m_type[seller] == "parallel_import") | w.trim_import[trim]
    w.l_seller, w.l_trim, w.l_published, w.l_price = seller, trim, published, price  # type: ignore[attr-defined]
    w.l_status, w.l_fake, w.l_qty, w.l_outlier = status, fake, quantity, outlier  # type: ignore[attr-defined]
    w.l_updated = updated  # type: ignore[attr-defined]
    confirmed = _stock_confirmations(w, status, published)
    return w.add(Table("app.listings", {
        "id": np.arange(1, total + 1), "merchant_id": seller + 1, "trim_id": trim + 1,
        "exterior_color": np.array(M.EXTERIOR_COLORS)[_pick(rng, M.EXTERIOR_SHARE, total)],
        "interior_color": np.array(M.INTERIOR_COLORS)[_pick(rng, M.INTERIOR_SHARE, total)],
        "quantity": quantity, "city_id": w.m_city[seller], "price": price, "guide_price": guide,
        "available_from": published + rng.choice([0, 0, 0, 3, 7, 14, 30], total) * DAY,
        "vin": vin, "is_parallel_import": pi_flag, "is_self_operated": self_operated,
        "status": status, "published_at": published, "updated_at": updated,
        "stock_confirmed_at": confirmed}))


CONFIRM_STREAM = 18       # the sellers' "still available" taps: their own stream [seed, 18]
CONFIRMING_SHARE = 0.6    # live listings whose seller re-confirmed the stock since publishing
CONFIRM_AGE_DAYS = 5.0    # the last confirmation's age: exponential with this mean


def _stock_confirmations(w: World, status: np.ndarray, published: np.ndarray) -> np.ndarray:
    """When sellers last confirmed their live listings' stock (issue 16: freshness counts
    from it); NA for a listing never re-confirmed. Its own random stream: nothing else moves."""
    pick = np.random.default_rng([int(w.rng.bit_generator.seed_seq.entropy), CONFIRM_STREAM])
    n = len(status)
    ago = (pick.exponential(CONFIRM_AGE_DAYS, n) * DAY).astype(np.int64)
    at = np.maximum(w.anchor - 600 - ago, published)
    confirms = (status == "live") & (pick.random(n) < CONFIRMING_SHARE) & (at > published)
    return np.where(confirms, at, NA)


VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
IMPORT_WMI = {"丰田": "JTE", "奔驰": "WDC", "路虎": "SAL", "雷克萨斯": "JTJ", "保时捷": "WP1",
              "大众": "WVG", "凯迪拉克": "1GY"}


def _vins(w: World, trim: np.ndarray, seller: np.ndarray, has_vin: np.ndarray) -> np.ndarray:
    rng = w.rng
    idx = np.flatnonzero(has_vin)
    out = np.full(len(trim), None, dtype=object)
    brands = ref.brands()
    parts = rng.integers(0, len(VIN_ALPHABET), (len(idx), 8))
    serial = rng.integers(0, 1_000_000, len(idx))
    for k, i in enumerate(idx):
        t = trim[i]
        brand = brands[w.trim_brand[t] - 1]
        wmi = IMPORT_WMI.get(brand) if w.trim_import[t] else None
        wmi = wmi or "L" + VIN_ALPHABET[w.trim_brand[t] % 23] + VIN_ALPHABET[(w.trim_brand[t] * 7) % 33]
        p = "".join(VIN_ALPHABET[j] for j in parts[k])
        out[i] = make_vin(wmi, p[:5], "S" if w.trim_year[t] == 2025 else "T", p[5], f"{serial[k]:06d}")
    malformed = idx[rng.random(len(idx)) < M.VIN_MALFORMED_RATE]
    for k, i in enumerate(malformed):
        v = out[i]
        out[i] = (v[:16], v[:8] + ("0" if v[8] != "0" else "1") + v[9:], v[:5] + "O" + v[6:])[k % 3]
    dupes = idx[rng.random(len(idx)) < M.VIN_DUPLICATE_RATE]
    for i in dupes:
        others = idx[seller[idx] != seller[i]]
        if len(others):
            out[i] = out[others[int(rng.integers(0, len(others)))]]
    return out


# ==================================================================== requests and bids
def requests(w: World) -> Table:
    rng, total = w.rng, w.scale.requests
    q, approved = w.m_q, w.m_approved
    type_factor = {"4s": 0.8, "secondary": 2.0, "resource": 0.8, "parallel_import": 0.5}
    span = np.where(approved != NA, (w.anchor - approved) / DAY, 0.0)
    weight = (np.array([type_factor[t] for t in w.m_type]) * rng.lognormal(0, 0.8, len(q)) * span
              * np.where(w.m_large, 1.8, 1.0))
    weight[rng.random(len(q)) < 0.25] = 0.0
    buyer = np.repeat(np.arange(len(q)), rng.multinomial(total, weight / weight.sum()))
    created = _uniform_between(rng, approved[buyer] + HOUR, np.full(total, w.anchor - 600))
    trim = _pick(rng, w.trim_weight, total)
    # Recent demand follows the live supply, so matching finds candidates right away.
    live = np.flatnonzero(w.l_status == "live")
    recent = np.flatnonzero((created > w.anchor - 30 * DAY) & (rng.random(total) < 0.6))
    if len(live):
        trim[recent] = w.l_trim[live[rng.integers(0, len(live), len(recent))]]
    series_level = rng.random(total) < 0.25
    series = w.trim_series[trim]
    guide = guide_at(w, trim, created)
    # The buyer's ceiling: the series' usual discount at the time, 6 points either way.
    max_points = prices.request_max_points(_discounts(w), series - 1, created, rng.random(total))
    max_price = _round(guide * (1 - max_points / 100), 1000)
    needed_by = created + rng.integers(7, 46, total) * DAY
    # 竞价寻车 is the newer feature: a tenth of all requests, a quarter of the last fortnight's.
    bidding = rng.random(total) < np.where(created > w.anchor - 14 * DAY, 0.25, 0.09)
    deadline = np.where(bidding, created + rng.integers(1, 10, total) * DAY + rng.integers(0, 12, total) * HOUR, NA)
    colours = []
    for k, u in enumerate(rng.random(total)):
        if u < 0.4:
            colours.append([])
        else:
            n = 1 + int(u * 10) % 3
            colours.append(sorted(set(np.array(M.EXTERIOR_COLORS)[_pick(rng, M.EXTERIOR_SHARE, n)].tolist()),
                                  key=M.EXTERIOR_COLORS.index))
    status = np.where(needed_by >= w.anchor, "open", "expired").astype(object)
    cancelled = rng.random(total) < M.hazard(q[buyer], 0.07, 0.6)
    status[cancelled & (status == "expired")] = "cancelled"
    status[(status == "expired") & (rng.random(total) < 0.3)] = "closed"
    updated = np.where(status == "open", created, np.minimum(needed_by, w.anchor - 60))
    w.r_buyer, w.r_trim, w.r_series_level, w.r_created = buyer, trim, series_level, created  # type: ignore[attr-defined]
    w.r_status, w.r_max, w.r_deadline, w.r_updated = status, max_price, deadline, updated  # type: ignore[attr-defined]
    w.r_needed = needed_by  # type: ignore[attr-defined]
    return w.add(Table("app.requests", {
        "id": np.arange(1, total + 1), "merchant_id": buyer + 1, "series_id": series,
        "trim_id": np.where(series_level, NA, trim + 1), "accepted_colors": colours,
        "quantity": rng.choice([1, 1, 1, 1, 1, 2, 2, 3, 5], total), "city_id": w.m_city[buyer],
        "max_price": max_price, "needed_by": needed_by, "mode": np.where(bidding, "bidding", "normal"),
        "bid_deadline": deadline, "status": status, "created_at": created, "updated_at": updated}))


def _listings_by_trim(w: World) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Listing indices grouped by trim: (order, start, count) for O(1) random candidates."""
    order = np.argsort(w.l_trim, kind="stable")
    n_trims = len(w.trim_current)
    count = np.bincount(w.l_trim, minlength=n_trims)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    return order, start, count


def bids(w: World) -> Table:
    rng = w.rng
    req = np.flatnonzero(w.r_deadline != NA)
    order, start, count = _listings_by_trim(w)
    n_bids = np.minimum(rng.poisson(4, len(req)), 8)
    r = np.repeat(req, n_bids)
    t = w.r_trim[r]
    has = count[t] > 0
    listing = np.where(has, order[start[t] + (rng.random(len(r)) * np.maximum(count[t], 1)).astype(np.int64)], NA)
    sellers_pool = np.flatnonzero(w.m_approved != NA)
    seller = np.where(has, w.l_seller[np.maximum(listing, 0)], sellers_pool[rng.integers(0, len(sellers_pool), len(r))])
    # Most offers come in soon after the request is posted.
    created = w.r_created[r] + 600 + (rng.random(len(r)) ** 2 * (w.r_deadline[r] - w.r_created[r] - 600)).astype(np.int64)
    keep = (seller != w.r_buyer[r]) & (created < w.anchor) & (created > w.m_approved[seller])
    r, listing, seller, created = r[keep], listing[keep], seller[keep], created[keep]
    price = _round(w.r_max[r] * rng.uniform(0.93, 1.0, len(r)), 100)
    closed = w.r_deadline[r] < w.anchor
    status = np.where(closed, "lost", "active").astype(object)
    status[~closed & (rng.random(len(r)) < 0.08)] = "withdrawn"
    # The cheapest bid with a car behind it wins a closed auction.
    winner = np.full(len(w.r_trim), NA, dtype=np.int64)
    candidates = np.flatnonzero(closed & (listing != NA))
    for k in candidates[np.lexsort((price[candidates], r[candidates]))][::-1]:
        winner[r[k]] = k
    won = winner[winner != NA]
    status[won] = "accepted"
    w.b_request, w.b_listing, w.b_price, w.b_created, w.b_seller = r, listing, price, created, seller  # type: ignore[attr-defined]
    w.b_status = status  # type: ignore[attr-defined]
    return w.add(Table("app.bids", {
        "id": np.arange(1, len(r) + 1), "request_id": r + 1, "seller_id": seller + 1,
        "listing_id": np.where(listing == NA, NA, listing + 1), "price": price,
        "quantity": np.minimum(w.tables["app.requests"].columns["quantity"][r], 3),
        "status": status, "created_at": created}))


# ==================================================================== matches, orders, money
STAGES = ("suggested", "contacted", "negotiating", "deposit_paid", "won", "lost")


def matches_and_orders(w: World) -> None:
    """Matches on the deal board and what they led to: orders, payments, disputes, reviews,
    logistics and order loans. One loop over matches: each outcome depends on the two
    merchants' latent quality, and the stories must stay consistent with each other."""
    rng = w.rng
    q = w.m_q
    order, start, count = _listings_by_trim(w)
    bd = w.staff_ids["bd"]
    req_qty = w.tables["app.requests"].columns["quantity"]
    # Which requests get matches: bids that won, plus auto/manual pairings of same-trim supply.
    bid_of_request = {int(w.b_request[k]): k for k in np.flatnonzero(w.b_status == "accepted")}
    candidates = []
    chance = np.where(w.r_status == "open", 0.75, 0.45)
    choose = _deal_chooser(w)
    compared: set[tuple[int, int]] = set()
    for r in np.flatnonzero(rng.random(len(w.r_trim)) < chance):
        t = w.r_trim[r]
        if count[t] == 0:
            continue
        for k in range(1 + int(rng.random() < 0.35)):
            li = int(order[start[t] + int(rng.integers(0, count[t]))])
            if k == 0:   # the card the buyer wants most: see _deal_chooser
                li = choose(int(r), li, order[start[t]:start[t] + count[t]])
            else:        # a car the buyer compared and did not take
                compared.add((int(r), li))
            candidates.append((int(r), li, "auto" if rng.random() < 0.7 else "manual", NA))
    for r, k in bid_of_request.items():
        candidates.append((r, int(w.b_listing[k]), "bid", k))
    # In time order, so a car sold to one buyer is no longer available to later matches.
    candidates.sort(key=lambda c: (max(int(w.r_created[c[0]]), int(w.l_published[c[1]])), c[0], c[2] != "bid"))
    m_rows, o_rows, p_rows, d_rows, rv_rows, lg_rows, ln_rows = [], [], [], [], [], [], []
    seen: set[tuple[int, int]] = set()
    request_won: set[int] = set()
    listing_taken: set[int] = set()
    for r, li, source, bid in candidates:
        buyer, seller = int(w.r_buyer[r]), int(w.l_seller[li])
        if buyer == seller or (r, li) in seen:
            continue
        created = max(int(w.r_created[r]), int(w.l_published[li])) + int(rng.integers(HOUR, 2 * DAY))
        if source == "bid":
            created = max(created, int(w.r_deadline[r]))
        if created >= w.anchor - 600 or created < w.m_approved[seller]:
            continue
        seen.add((r, li))
        qty = int(min(req_qty[r], w.l_qty[li]))
        unit = float(w.l_price[li])
        owner = (int(w.m_owner[buyer]) if w.m_owner[buyer] != NA else
                 int(w.m_owner[seller]) if w.m_owner[seller] != NA else
                 (int(rng.choice(bd)) if rng.random() < 0.6 else NA))
        age_days = (w.anchor - created) / DAY
        match = {"id": len(m_rows) + 1, "request_id": r + 1, "listing_id": li + 1, "source": source,
                 "score": round(float(rng.uniform(0.55, 0.98)), 3) if source == "auto" else None,
                 "owner_id": owner, "deal_value": round(unit * qty, 2), "lost_reason": None,
                 "created_at": created, "next_action_at": NA}
        m_rows.append(match)
        # How far it got: deals close within weeks; recent matches are still being worked.
        both = (q[buyer] + q[seller]) / 2
        p_progress = 1 / (1 + np.exp(-(0.2 + 0.8 * both)))
        blocked = r in request_won or li in listing_taken or w.l_status[li] in ("taken_down",) or w.l_fake[li]
        if age_days < 21 and w.r_status[r] == "open" and not blocked:
            stage = STAGES[min(4, int(rng.choice(5, p=[0.38, 0.24, 0.18, 0.14, 0.06])))]
            if owner == NA and stage != "suggested":
                stage = "suggested"
            if stage == "suggested" and source == "auto" and rng.random() < 0.5:
                match["owner_id"] = NA  # fresh suggestions wait in the pool until a BD claims them
        elif blocked or rng.random() > p_progress * 0.55:
            stage = "lost"
        else:
            stage = "won"
        if stage == "won" and (r, li) in compared:   # the buyer bought the car they preferred
            stage = "lost"
            match["lost_reason"] = "bought_elsewhere"
        # An order exists once a price is agreed (negotiating with an order, deposit_paid, won),
        # and some lost matches died after the order (cancellations, failed deposits).
        wants_order = stage in ("deposit_paid", "won") or (stage == "negotiating" and rng.random() < 0.4) \
            or (stage == "lost" and not blocked and rng.random() < 0.25)
        stage_at = created + int(rng.integers(HOUR, max(2 * HOUR, int(min(age_days, 10) * DAY))))
        stage_at = min(stage_at, w.anchor - 300)
        if wants_order:
            stage, stage_at = _order_story(w, rng, match, stage, r, li, buyer, seller, qty, unit,
                                           o_rows, p_rows, d_rows, rv_rows, lg_rows, ln_rows)
        if stage == "won":
            request_won.add(r)
            listing_taken.add(li)
        if stage == "lost" and match["lost_reason"] is None:
            match["lost_reason"] = ("no_stock" if blocked else str(rng.choice(
                M.LOST_REASONS, p=[0.3, 0.08, 0.15, 0.12, 0.15, 0.1, 0.05, 0.05])))
        if stage in ("suggested", "contacted", "negotiating", "deposit_paid"):
            match["next_action_at"] = stage_at + int(rng.integers(-2, 4)) * DAY + 10 * HOUR
        match["stage"] = stage
        match["stage_entered_at"] = stage_at
        match["updated_at"] = stage_at
    _ensure_open_disputes(w, rng, o_rows, d_rows, minimum=3)
    _finish_matches(w, m_rows, request_won, listing_taken, {o["match_id"] for o in o_rows})
    w.add(_table("ops.matches", m_rows))
    w.add(_table("app.orders", o_rows))
    w.add(_table("app.payments", p_rows))
    w.add(_table("app.disputes", d_rows))
    w.add(_table("app.reviews", rv_rows + _fake_listing_reports(w, len(rv_rows))))
    w.add(_table("app.logistics_requests", lg_rows))
    w.add(_table("app.loan_applications", ln_rows))


DEAL_STREAM = 16          # the buyer's choice has its own random stream: [seed, 16]
FREIGHT_PER_CAR_KM = 1.5 * 1.25   # brief section 6: ¥1.5 per car-km, road 1.25 x great-circle


def _deal_chooser(w: World):
    """How a buyer picks the car a deal is made on (issue 16): among the cars of the trim
    (any trim of the series for a series-level request) they could buy at the request's moment (published and not gone, within the ceiling, enough
    cars, a colour they take), with a preference for a lower delivered cost (price + freight,
    in % of the buyer's maximum) and a reliable seller (latent quality). A logit choice, so
    the cheapest is likely, not certain; only this card can win (a second card the buyer
    compared is lost to it). Its own random stream: same seed, same choices."""
    seed = int(w.rng.bit_generator.seed_seq.entropy)
    pick = np.random.default_rng([seed, DEAL_STREAM])
    cities = w.tables["app.cities"].columns
    lat = np.radians(np.asarray(cities["latitude"], dtype=float))
    lon = np.radians(np.asarray(cities["longitude"], dtype=float))

    def km(a: np.ndarray, b: int) -> np.ndarray:
        a, b = a - 1, b - 1
        h = (np.sin((lat[a] - lat[b]) / 2) ** 2
             + np.cos(lat[a]) * np.cos(lat[b]) * np.sin((lon[a] - lon[b]) / 2) ** 2)
        return 2 * 6371.0088 * np.arcsin(np.minimum(1.0, np.sqrt(h)))

    requests = w.tables["app.requests"].columns
    want, colours = requests["quantity"], requests["accepted_colors"]
    listing_colour = w.tables["app.listings"].columns["exterior_color"]

    # A series-level request takes any trim of its series.
    series_of = w.trim_series[w.l_trim]
    by_series = np.argsort(series_of, kind="stable")
    series_start = np.searchsorted(series_of[by_series], np.arange(series_of.max() + 2))

    def choose(r: int, first: int, same_trim: np.ndarray) -> int:
        moment = max(int(w.r_created[r]), int(w.l_published[first]))
        if w.r_series_level[r]:
            s = int(series_of[first])
            same_trim = by_series[series_start[s]:series_start[s + 1]]
        options = np.unique(np.concatenate([[first], same_trim]))
        # what the buyer could buy then: published and not yet gone, within the ceiling,
        # enough cars, a colour they take
        ok = ((w.l_published[options] <= moment)
              & ((w.l_status[options] == "live") | (w.l_updated[options] > moment))
              & (w.l_price[options] <= w.r_max[r]) & (w.l_qty[options] >= want[r])
              & (np.isin(listing_colour[options], colours[r]) if colours[r] else True))
        options = options[ok]
        if len(options) == 0:
            return first
        sellers = w.l_seller[options]
        delivered = w.l_price[options] + FREIGHT_PER_CAR_KM * km(w.m_city[sellers], int(w.m_city[w.r_buyer[r]]))
        utility = (-100 * delivered / float(w.r_max[r])   # one unit per 1% of the maximum
                   + 1.0 * w.m_q[sellers])                # a reliable seller
        p = np.exp(utility - utility.max())
        return int(options[np.searchsorted(np.cumsum(p), pick.random() * p.sum()).clip(0, len(p) - 1)])

    return choose


def _table(name: str, rows: list[dict]) -> Table:
    for k, row in enumerate(rows, start=1):
        row["id"] = k
    cols = list(rows[0].keys()) if rows else ["id"]
    return Table(name, {c: [row.get(c) for row in rows] for c in cols})


def _pay_channel(rng: np.random.Generator, amount: float) -> str:
    p = [0.45, 0.35, 0.20] if amount < 20_000 else [0.2, 0.15, 0.65]
    return str(rng.choice(M.PAYMENT_CHANNELS, p=p))


def _deposit_for(unit: float, qty: int) -> float:
    per_car = 5_000 if unit < 200_000 else 10_000 if unit < 500_000 else 20_000
    return float(per_car * qty)


def _order_story(w, rng, match, stage, r, li, buyer, seller, qty, unit,
                 o_rows, p_rows, d_rows, rv_rows, lg_rows, ln_rows) -> tuple[str, int]:
    """Create the order of a match and everything that follows; returns the match's final stage."""
    q = w.m_q
    created = int(match["created_at"]) + int(rng.integers(2 * HOUR, 3 * DAY))
    if created >= w.anchor - 600:
        return ("negotiating", w.anchor - 900)
    amount = round(unit * qty, 2)
    deposit = _deposit_for(unit, qty)
    take_rate = ESCROW_FEE_RATE["large" if w.m_large[buyer] else "small"]   # a member's: demo/vip.py
    order = {"match_id": match["id"], "request_id": r + 1, "listing_id": li + 1, "buyer_id": buyer + 1,
             "seller_id": seller + 1, "quantity": qty, "unit_price": unit, "amount": amount,
             "deposit_amount": deposit, "fee_amount": round(amount * take_rate, 2),
             "status": "created", "escrow_state": "none", "cancelled_by": None, "created_at": created,
             "deposit_paid_at": NA, "completed_at": NA, "cancelled_at": NA, "updated_at": created}
    o_rows.append(order)
    oid = len(o_rows)
    due = created + DAY
    channel = _pay_channel(rng, deposit)
    fails = rng.random() < M.hazard(np.array([q[buyer]]), 0.06, 1.0)[0]
    late = rng.random() < M.hazard(np.array([q[buyer]]), 0.10, 0.9)[0]
    paid = due - int(rng.integers(HOUR, 20 * HOUR)) if not late else due + int(rng.integers(2 * HOUR, 3 * DAY))
    if due > w.anchor and (fails or paid > w.anchor):
        # Deposit not paid yet and not overdue: waiting on the buyer.
        p_rows.append({"order_id": oid, "kind": "deposit", "channel": channel, "amount": deposit,
                       "status": "pending", "due_at": due, "paid_at": NA, "created_at": created})
        return ("negotiating", created)
    if fails or paid >= w.anchor:
        p_rows.append({"order_id": oid, "kind": "deposit", "channel": channel, "amount": deposit,
                       "status": "failed", "due_at": due, "paid_at": NA, "created_at": created})
        end = min(due + int(rng.integers(HOUR, DAY)), w.anchor - 300)
        order.update(status="cancelled", cancelled_by="platform" if rng.random() < 0.6 else "buyer",
                     cancelled_at=end, updated_at=end)
        _event(w, buyer, "order_cancelled", oid, end)
        match["lost_reason"] = "buyer_cancelled"
        return ("lost", end)
    p_rows.append({"order_id": oid, "kind": "deposit", "channel": channel, "amount": deposit,
                   "status": "succeeded", "due_at": due, "paid_at": paid, "created_at": created})
    order.update(status="deposit_paid", escrow_state="held", deposit_paid_at=paid, updated_at=paid)
    _event(w, buyer, "deposit_paid", oid, paid, "buyer")
    _event(w, seller, "deposit_paid", oid, paid, "seller")
    _maybe_loan(w, rng, buyer, oid, amount, paid, ln_rows)
    finish = paid + int(rng.integers(3, 16)) * DAY + int(rng.integers(0, 10 * HOUR))
    logistics = w.m_city[buyer] != w.m_city[seller] and rng.random() < 0.6
    if logistics:
        _logistics(w, rng, oid, buyer, seller, qty, paid, finish, lg_rows)
    seller_cancels = rng.random() < M.hazard(np.array([q[seller]]), 0.05, 1.0)[0]
    buyer_cancels = rng.random() < M.hazard(np.array([q[buyer]]), 0.04, 1.0)[0]
    disputed = rng.random() < M.hazard(np.array([min(q[buyer], q[seller])]), 0.05, 0.9)[0]
    if stage == "deposit_paid" or finish >= w.anchor:
        in_flight_dispute = rng.random() < M.hazard(np.array([min(q[buyer], q[seller])]), 0.2, 0.9)[0]
        if in_flight_dispute and paid + 2 * DAY < w.anchor:
            _dispute(w, rng, order, oid, buyer, seller, paid, d_rows, resolve=False)
        return ("deposit_paid", paid)
    if seller_cancels or buyer_cancels:
        who = "seller" if seller_cancels else "buyer"
        end = min(finish - 2 * DAY, w.anchor - 300)
        order.update(status="cancelled", escrow_state="refunded", cancelled_by=who, cancelled_at=end,
                     updated_at=end)
        p_rows.append({"order_id": oid, "kind": "refund", "channel": channel, "amount": deposit,
                       "status": "succeeded", "due_at": NA, "paid_at": end, "created_at": end})
        _event(w, seller if who == "seller" else buyer, "order_cancelled", oid, end)
        match["lost_reason"] = "no_stock" if who == "seller" else "buyer_cancelled"
        return ("lost", end)
    if disputed:
        outcome_stage = _dispute(w, rng, order, oid, buyer, seller, paid, d_rows, resolve=True)
        if outcome_stage is not None:
            match["lost_reason"] = "trust_concerns" if outcome_stage[0] == "lost" else None
            return outcome_stage
    order.update(status="completed", escrow_state="released", completed_at=finish, updated_at=finish)
    p_rows.append({"order_id": oid, "kind": "balance", "channel": "bank", "amount": round(amount - deposit, 2),
                   "status": "succeeded", "due_at": finish, "paid_at": finish - HOUR, "created_at": finish - 2 * HOUR})
    p_rows.append({"order_id": oid, "kind": "release", "channel": "bank", "amount": deposit,
                   "status": "succeeded", "due_at": NA, "paid_at": finish, "created_at": finish})
    p_rows.append({"order_id": oid, "kind": "fee", "channel": _pay_channel(rng, order["fee_amount"]),
                   "amount": order["fee_amount"], "status": "succeeded", "due_at": NA, "paid_at": finish,
                   "created_at": finish})
    _event(w, buyer, "deal_completed", oid, finish, "buyer")
    _event(w, seller, "deal_completed", oid, finish, "seller")
    _reviews(w, rng, oid, buyer, seller, li, finish, rv_rows)
    return ("won", finish)


def _dispute(w, rng, order, oid, buyer, seller, paid, d_rows, *, resolve: bool):
    q = w.m_q
    # The weaker party is usually the one complained about.
    against = seller if (q[seller] < q[buyer]) == (rng.random() < 0.8) else buyer
    raiser = buyer if against == seller else seller
    if resolve:
        created = paid + int(rng.integers(DAY, 8 * DAY))
    else:  # raised while the deal is still open: some time between deposit and now
        created = paid + int(rng.uniform(0.2, 0.9) * min(8 * DAY, w.anchor - paid))
    if created >= w.anchor - 600:
        return None
    reason = str(rng.choice(["not_delivered", "wrong_spec", "late_delivery", "price_change", "damage", "other"],
                            p=[0.2, 0.2, 0.25, 0.15, 0.12, 0.08]))
    resolved_at = created + int(rng.integers(2, 15)) * DAY
    row = {"order_id": oid, "raised_by": raiser + 1, "against_id": against + 1, "reason": reason,
           "status": "open", "outcome": None, "created_at": created, "resolved_at": NA}
    d_rows.append(row)
    _event(w, raiser, "dispute_raised", oid, created)
    order.update(status="disputed", escrow_state="disputed", updated_at=created)
    if not resolve or resolved_at >= w.anchor:
        return ("deposit_paid", created)
    p_lose = 1 / (1 + np.exp(1.5 * q[against]))  # low quality loses its disputes
    u = rng.random()
    outcome = "raiser_won" if u < p_lose else "settled" if u < p_lose + 0.15 else "against_won"
    row.update(status="resolved", outcome=outcome, resolved_at=resolved_at)
    if outcome == "raiser_won" and against == seller:
        order.update(status="cancelled", escrow_state="refunded", cancelled_by="platform",
                     cancelled_at=resolved_at, updated_at=resolved_at)
        return ("lost", resolved_at)
    return None


def _ensure_open_disputes(w, rng, o_rows, d_rows, *, minimum: int) -> None:
    """The dispute desk always has cases: if chance left fewer than ``minimum`` open, the most
    recent orders with a held deposit get one (raised by the side facing the weaker merchant)."""
    open_now = sum(1 for d in d_rows if d["status"] == "open")
    held = [k for k, o in enumerate(o_rows) if o["status"] == "deposit_paid"]
    for k in sorted(held, key=lambda k: -o_rows[k]["deposit_paid_at"]):
        if open_now >= minimum:
            return
        o = o_rows[k]
        if _dispute(w, rng, o, k + 1, o["buyer_id"] - 1, o["seller_id"] - 1, o["deposit_paid_at"],
                    d_rows, resolve=False) is not None:
            open_now += 1


def _reviews(w, rng, oid, buyer, seller, li, at, rv_rows) -> None:
    q = w.m_q
    for reviewer, target, p in ((buyer, seller, 0.55), (seller, buyer, 0.35)):
        if rng.random() >= p:
            continue
        when = at + int(rng.integers(HOUR, 5 * DAY))
        if when >= w.anchor:
            continue
        stars = int(np.clip(np.rint(4.3 + 0.7 * q[target] + rng.normal(0, 0.6)), 1, 5))
        tags = (["as_described", "fast_delivery"] if stars == 5 else ["as_described"] if stars == 4
                else ["late_delivery"] if stars == 3 else ["poor_communication", "late_delivery"])
        body = {5: "车况与描述一致，交付很快", 4: "整体满意", 3: "交付有些延迟",
                2: "沟通不顺畅，交付拖延", 1: "体验很差"}[stars]
        rv_rows.append({"reviewer_id": reviewer + 1, "target_merchant_id": target + 1, "order_id": oid,
                        "listing_id": li + 1 if reviewer == buyer else None, "stars": stars,
                        "tags": tags, "body": body, "created_at": when})
        _event(w, reviewer, "review_posted", oid, when)


def _fake_listing_reports(w: World, offset: int) -> list[dict]:
    """Other dealers flag fake listings (1-2 reports each), all one-star."""
    rng = w.rng
    rows = []
    reporters = np.flatnonzero(w.m_approved != NA)
    for li in np.flatnonzero(w.l_fake):
        for _ in range(1 + int(rng.random() < 0.4)):
            reporter = int(reporters[rng.integers(0, len(reporters))])
            seller = int(w.l_seller[li])
            when = int(w.l_published[li]) + int(rng.integers(HOUR, 10 * DAY))
            if reporter == seller or when >= w.anchor or when < w.m_approved[reporter]:
                continue
            rows.append({"reviewer_id": reporter + 1, "target_merchant_id": seller + 1, "order_id": None,
                         "listing_id": int(li) + 1, "stars": 1, "tags": ["fake_listing"],
                         "body": "车源不存在，电话询问后称已售", "created_at": when})
            _event(w, reporter, "review_posted", int(li) + 1, when)
    return rows


def _logistics(w, rng, oid, buyer, seller, qty, paid, finish, lg_rows) -> None:
    cs = ref.cities()
    a, b = cs[w.m_city[seller] - 1], cs[w.m_city[buyer] - 1]
    km = 111 * np.hypot(a.latitude - b.latitude, (a.longitude - b.longitude) * np.cos(np.radians(a.latitude)))
    created = paid + int(rng.integers(HOUR, 2 * DAY))
    if created >= w.anchor:
        return
    if finish < w.anchor:
        status = "delivered"
    else:
        status = str(rng.choice(["requested", "quoted", "in_transit"], p=[0.3, 0.3, 0.4]))
    fee = None if status == "requested" else float(round(500 + 1.6 * km * qty, -1))
    lg_rows.append({"order_id": oid, "from_city_id": int(w.m_city[seller]), "to_city_id": int(w.m_city[buyer]),
                    "status": status, "quoted_fee": fee, "created_at": created})


def _maybe_loan(w, rng, buyer, oid, amount, paid, ln_rows) -> None:
    recent = paid > w.anchor - 14 * DAY  # order finance is asked for while the deal is open
    if rng.random() >= (0.25 if w.m_large[buyer] else 0.12) + (0.2 if recent else 0.0):
        return
    q = w.m_q[buyer]
    applied = paid + int(rng.integers(HOUR, 2 * DAY))
    if applied >= w.anchor:
        return
    row = {"merchant_id": buyer + 1, "order_id": oid, "amount": float(round(amount * rng.uniform(0.5, 0.8), -3)),
           "status": "applied", "applied_at": applied, "decided_at": NA, "due_at": NA, "closed_at": NA}
    ln_rows.append(row)
    decided = applied + int(rng.integers(4 * HOUR, 4 * DAY))
    if decided >= w.anchor - 2 * DAY or applied >= w.anchor - 10 * DAY:
        return  # still waiting for risk
    if rng.random() < 0.12 + 0.2 * (q < -1):
        row.update(status="rejected", decided_at=decided)
        return
    due = decided + 60 * DAY  # order loans run for the weeks between deposit and resale
    row.update(status="approved", decided_at=decided, due_at=due)
    if due >= w.anchor:
        return
    if rng.random() < M.hazard(np.array([q]), 0.10, 1.4)[0]:
        if due + 30 * DAY < w.anchor:
            row.update(status="defaulted", closed_at=due + 30 * DAY)
    else:
        row.update(status="repaid", closed_at=due - int(rng.integers(0, 30)) * DAY)


def _finish_matches(w: World, m_rows: list[dict], request_won: set[int], listing_taken: set[int],
                    with_order: set[int]) -> None:
    """Bring requests and listings in line with what their matches achieved."""
    sold_at = {m["listing_id"]: m["stage_entered_at"] for m in m_rows if m["stage"] == "won"}
    for m in m_rows:
        # A card still open on a car that has been sold meanwhile is lost for lack of stock.
        if m["stage"] in STAGES[:3] and m["listing_id"] in sold_at and m["id"] not in with_order:
            at = max(int(m["stage_entered_at"]), int(sold_at[m["listing_id"]]))
            m.update(stage="lost", lost_reason="no_stock", stage_entered_at=at, updated_at=at, next_action_at=NA)
    for m in m_rows:
        r, li = m["request_id"] - 1, m["listing_id"] - 1
        if m["stage"] == "won":
            w.r_status[r] = "matched"
            w.r_updated[r] = max(int(w.r_updated[r]), int(m["stage_entered_at"]))
            w.l_status[li] = "sold"
            w.l_updated[li] = m["stage_entered_at"]
        elif m["stage"] != "lost" and m["listing_id"] not in sold_at:
            w.l_status[li] = "live"  # a car still being negotiated is on offer
    rt = w.tables["app.requests"].columns
    rt["status"], rt["updated_at"] = w.r_status, np.minimum(w.r_updated, w.anchor - 60)
    lt = w.tables["app.listings"].columns
    lt["status"], lt["updated_at"] = w.l_status, w.l_updated


# ==================================================================== derived events
def _event(w: World, merchant: int, kind: str, entity: int, at: int, role: str = "") -> None:
    """An event the order story produced; ``role`` says which side of a deal the merchant was."""
    w.__dict__.setdefault("extra_events", []).append((merchant, kind, entity, at, role))


def derived_events(w: World) -> dict[str, np.ndarray]:
    """Every funnel event implied by the tables, as arrays (merchant index, type, entity, time)."""
    parts: list[tuple] = []  # (merchant, type, entity, time[, role])
    n = w.scale.merchants
    parts.append((np.arange(n), "registered", np.arange(1, n + 1), w.m_reg))
    c = w.tables["app.certifications"].columns
    cm = np.asarray(c["merchant_id"]) - 1
    parts.append((cm, "cert_submitted", np.asarray(c["id"]),
                  getattr(w, "cert_event_times", c["submitted_at"])))
    status = np.asarray(c["status"], dtype=object)
    for s in ("approved", "rejected"):
        k = np.flatnonzero(status == s)
        parts.append((cm[k], f"cert_{s}", np.asarray(c["id"])[k], c["decided_at"][k]))
    parts.append((w.l_seller, "listing_created", np.arange(1, len(w.l_seller) + 1), w.l_published))
    parts.append((w.r_buyer, "request_created", np.arange(1, len(w.r_buyer) + 1), w.r_created))
    parts.append((w.b_seller, "bid_placed", np.arange(1, len(w.b_seller) + 1), w.b_created))
    mt = w.tables["ops.matches"].columns
    if mt.get("request_id"):
        mr = np.asarray(mt["request_id"]) - 1
        ml = np.asarray(mt["listing_id"]) - 1
        mc = np.asarray(mt["created_at"], dtype=np.int64)
        ids = np.asarray(mt["id"])
        parts.append((w.r_buyer[mr], "match_created", ids, mc, "buyer"))
        parts.append((w.l_seller[ml], "match_created", ids, mc, "seller"))
    extra = w.__dict__.get("extra_events", [])
    if extra:
        em, et, ee, ea, er = zip(*extra)
        parts.append((np.array(em), np.array(et, dtype=object), np.array(ee), np.array(ea, dtype=np.int64),
                      np.array(er, dtype=object)))
    merchant = np.concatenate([p[0] for p in parts]).astype(np.int64)
    kinds = np.concatenate([np.full(len(p[0]), p[1], dtype=object) if isinstance(p[1], str) else p[1]
                            for p in parts])
    entity = np.concatenate([np.asarray(p[2], dtype=np.int64) for p in parts])
    at = np.concatenate([np.asarray(p[3], dtype=np.int64) for p in parts])
    role = np.concatenate([p[4] if len(p) > 4 and not isinstance(p[4], str)
                           else np.full(len(p[0]), p[4] if len(p) > 4 else "", dtype=object) for p in parts])
    return {"merchant": merchant, "type": kinds, "entity": entity, "at": at, "role": role}


def login_plan(w: World, derived_count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per merchant: active window [from, to] and login rate per day, sized so that all
    events together reach the scale's target. Uncertified merchants drift away in weeks."""
    rng = w.rng
    n = w.scale.merchants
    start = w.m_reg + 60
    certified = w.m_approved != NA
    churn = np.where(certified, rng.exponential(400, n), rng.exponential(20, n)) * DAY
    end = np.minimum(w.anchor - 60, start + churn.astype(np.int64))
    propensity = rng.lognormal(0, 0.7, n) * np.where(certified, 1.0, 0.4) * np.where(w.m_large, 1.5, 1.0)
    days = np.maximum(end - start, 0) / DAY
    logins = max(w.scale.events - derived_count, 0)
    rate = propensity * logins / max(float((propensity * days).sum()), 1.0)
    return start, end, rate


def notifications(w: World) -> Table:
    """The outbox as the platform left it: sent for the past, queued or held for the last hours."""
    rng = w.rng
    rows: list[dict] = []
    c = w.tables["app.certifications"].columns
    for cid, m, status, updated in zip(c["id"], c["merchant_id"], c["status"], c["updated_at"]):
        if status in ("approved", "rejected", "needs_info"):
            rows.append((int(m), "sms", f"cert_{status}", {"certification_id": int(cid)}, f"cert:{cid}:{status}",
                         int(updated)))
    o = w.tables["app.orders"].columns
    for oid, b, created in zip(o.get("id", []), o.get("buyer_id", []), o.get("created_at", [])):
        rows.append((int(b), "sms", "deposit_due", {"order_id": int(oid)}, f"order:{oid}:deposit_due", int(created)))
    mt = w.tables["ops.matches"].columns
    for mid, r, created in zip(mt.get("id", []), mt.get("request_id", []), mt.get("created_at", [])):
        buyer = int(w.r_buyer[r - 1]) + 1
        rows.append((buyer, "app", "match_suggested", {"match_id": int(mid)}, f"match:{mid}:suggested", int(created)))
    rows.sort(key=lambda x: (x[5], x[4]))
    out = {"id": [], "merchant_id": [], "channel": [], "template": [], "payload": [], "dedupe_key": [],
           "status": [], "created_at": [], "send_after": [], "sent_at": []}
    for k, (m, channel, template, payload, key, at) in enumerate(rows, start=1):
        send_after = at
        local_hour = ((at + 8 * HOUR) % DAY) // HOUR
        if channel == "sms" and (local_hour >= 22 or local_hour < 8):  # quiet hours: hold SMS till 09:00
            send_after = at - (at + 8 * HOUR) % DAY + (DAY if local_hour >= 22 else 0) + 9 * HOUR
        if send_after > w.anchor - 6 * HOUR:  # the last hours' messages are still in the outbox
            status, sent = ("held" if send_after > at else "queued"), NA
        elif rng.random() < 0.01:
            status, sent = "failed", NA
        else:
            status, sent = "sent", send_after + int(rng.integers(5, 120))
        for col, val in zip(out, (k, m, channel, template, json.dumps(payload), key, status, at, send_after, sent)):
            out[col].append(val)
    return w.add(Table("app.notification_outbox", out))


def merchant_standing(w: World) -> None:
    """Suspend dealers caught with several fake listings; a few uncertified accounts closed."""
    rng = w.rng
    n = w.scale.merchants
    fakes = np.bincount(w.l_seller[w.l_fake], minlength=n)
    mt = w.tables["app.merchants"].columns
    status = mt["status"]
    suspended = (fakes >= 2) | ((fakes == 1) & (rng.random(n) < 0.3))
    closed = (w.m_approved == NA) & (rng.random(n) < 0.04) & (w.m_reg < w.anchor - 60 * DAY)
    status[suspended] = "suspended"
    status[closed & ~suspended] = "closed"
    changed = suspended | closed
    later = _uniform_between(rng, w.m_reg + DAY, np.full(n, w.anchor - HOUR))
    mt["updated_at"] = np.where(changed, later, mt["updated_at"])
    mt["version"] = np.where(changed, 2, 1)
