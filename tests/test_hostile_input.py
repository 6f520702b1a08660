"""Hostile input at the service boundary: every text, number and date parameter of every
gated service, driven with a corpus of what a careless or malicious caller may send.

Each value either comes back as the project's own error (a ConsoleError whose key is in the
catalogue) or as a result; never a driver error or any other exception. Values that no
field may hold (NUL, control characters, text-direction overrides, 100,000 characters, NaN,
±inf, 1e308, 2**70, a number as text, years 1 and 9999) must be refused. Every call runs in
a transaction that is rolled back, as a page's refused action is; around each service's
calls the tables of app, ops and etl are hashed, so a service that wrote through another
connection would show.

Then exact cases a user would notice: `%` in the credit page's merchant search, a
61-character display name, a bad username, a 200,000-character CSV cell, a 3,200-character
or NUL trim name that the import preview now refuses, a NUL in the sign-in name.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import typing
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from console import boundary, clock, db
from console.errors import ConsoleError, InvalidInput
from console.i18n import LANGUAGES, has_key, translate
from console.roles import PROTECTED, Actor
from tests.test_roles import service_modules  # noqa: F401  (imports every service module)
from tests.conftest import TEST_PASSWORD_HASH

# ---------------------------------------------------------------- the corpus
TEXT = {
    "NUL": "ab\x00cd",
    "control character": "ab\x1b[2Jcd",
    "right-to-left override": "invoice\u202efdp.exe",
    "100k characters": "长" * 100_000,
    # Accepted as text wherever free text is: emoji, LIKE wildcards, an SQL fragment and
    # full-width digits; the service must treat them as the letters they are.
    "emoji, %, _, SQL, full-width": "😀%_'; DROP TABLE ops.staff; --１２３",
}
NUMBER = {
    "NaN": math.nan, "inf": math.inf, "-inf": -math.inf, "1e308": 1e308, "2**70": 2**70,
    "number as text": "5", "full-width digit": "５", "Decimal NaN": Decimal("NaN"),
    "negative": -1,
}
DATE = {"year 1": date(1, 1, 1), "year 9999": date(9999, 12, 31)}
DATETIME = {"year 1": datetime(1, 1, 1, 0, 0), "year 9999": datetime(9999, 12, 31, 23, 59)}
BOOL = {"text": "yes", "int": 1}
# Accepted by design (the service decides what they mean): everything else must be refused.
MAY_PASS = {"emoji, %, _, SQL, full-width", "negative"}


def _kinds(annotation) -> list[str]:
    """Which corpora a parameter of this annotation gets."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _kinds(typing.get_args(annotation)[0])
    if origin in (typing.Union, __import__("types").UnionType):
        return [k for a in typing.get_args(annotation) if a is not type(None) for k in _kinds(a)]
    if annotation is typing.Any:
        return ["text", "number"]
    if origin in (tuple, list, Sequence):
        item = typing.get_args(annotation)[0] if typing.get_args(annotation) else typing.Any
        return [f"list of {k}" for k in _kinds(item)]
    return {str: ["text"], int: ["number"], float: ["number"], Decimal: ["number"],
            bool: ["bool"], date: ["date"], datetime: ["datetime"]}.get(annotation, [])


CORPORA = {"text": TEXT, "number": NUMBER, "date": DATE, "datetime": DATETIME, "bool": BOOL}


def _values(kind: str):
    if kind.startswith("list of "):
        for label, value in CORPORA[kind[8:]].items():
            yield f"[{label}]", (value,)
        yield "a bare string", "4s"
    else:
        yield from CORPORA[kind].items()


def targets(fn):
    """(path, annotation) of every parameter, and of every field of a dataclass parameter."""
    hints = boundary._hints(fn)
    for name in inspect.signature(fn).parameters:
        if name in boundary.SKIPPED:
            continue
        annotation = hints.get(name, typing.Any)
        classes = [a for a in (annotation, *typing.get_args(annotation))
                   if isinstance(a, type) and dataclasses.is_dataclass(a)]
        if classes:
            for f, field_type in boundary._hints(classes[0]).items():
                yield f"{name}.{f}", field_type
        else:
            yield name, annotation


def service(name):
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


SERVICES = sorted(name for name in PROTECTED
                  if any(_kinds(a) for _, a in targets(inspect.unwrap(service(name)))))

# ---------------------------------------------------------------- one demo database
ROLE_ORDER = ("ops", "bd", "risk", "manager", "admin")


@pytest.fixture(scope="module")
def hostile_engine(server_url, admin_engine, demo_template):
    """One copy of the demo for the module: every call is rolled back, so cases cannot
    disturb each other."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with admin_engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{demo_template}"')
    eng = db.make_engine(make_url(server_url).set(database=name).render_as_string(hide_password=False))
    yield eng
    eng.dispose()
    with admin_engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def hostile_db(hostile_engine):
    db.set_default_engine(hostile_engine)
    return hostile_engine


@pytest.fixture(scope="module")
def world(hostile_engine):
    """One account per role, and ids of real rows for the parameters a call needs."""
    with hostile_engine.begin() as conn:
        def one(sql):
            return conn.execute(sa.text(sql)).scalar()
        actors = {}
        for role in ROLE_ORDER:
            username = f"hostile.{role}"
            staff_id = conn.execute(sa.text(
                """INSERT INTO ops.staff (username, display_name, password_hash, roles)
                   VALUES (:u, :u, :h, :r) RETURNING id"""),
                {"u": username, "h": TEST_PASSWORD_HASH, "r": [role]}).scalar_one()
            actors[role] = Actor(id=staff_id, username=username, display_name=username,
                                 roles=frozenset({role}))
        today = clock.today()
        valid = {
            "active": False, "body": "跟进备注", "decision": "approve", "digest": "0" * 64,
            "display_name": "Probe", "expected_version": 1, "kind": "call",
            "keep": True, "expires_on": today + timedelta(days=30), "new_grade": "A", "new_owner_id": None,
            "next_action_at": clock.now() + timedelta(days=1), "note": "说明",
            "password": "Zq8!rT5#wLm2vX", "reason": "测试原因", "reason_code": "other",
            "roles": ["bd"], "step": "certified", "to_stage": "contacted",
            "until": today + timedelta(days=3), "username": "probe.user", "version": 1,
            "job": "supply_demand",
            "content": "brand,series,trim,model_year,guide_price\n".encode(),
            "merchant_id": one("SELECT min(id) FROM app.merchants WHERE status = 'active'"),
            "request_id": one("SELECT min(id) FROM app.requests WHERE status = 'open'"),
            "listing_id": one("SELECT min(id) FROM app.listings WHERE status = 'live'"),
            "match_id": one("SELECT coalesce(min(id), 1) FROM ops.matches"),
            "trim_id": one("SELECT min(id) FROM app.trims"),
            "series_id": one("SELECT min(id) FROM app.series"),
            "brand_id": one("SELECT min(id) FROM app.brands"),
            "case_id": one("SELECT min(id) FROM app.certifications"),
            "flag_id": one("SELECT coalesce(min(id), 1) FROM ops.listing_flags"),
            "override_id": one("SELECT coalesce(min(id), 1) FROM ops.credit_overrides"),
            "dispute_id": one("SELECT min(id) FROM app.disputes WHERE status = 'open'"),
            "decision_id": one("SELECT coalesce(min(id), 1) FROM ops.dispute_decisions"),
            "session_id": one("SELECT coalesce(min(id), 1) FROM ops.staff_sessions"),
            "promotion_id": one("SELECT coalesce(min(id), 1) FROM ops.credit_promotions"),
            "version_id": one("SELECT coalesce(min(id), 1) FROM ops.credit_scorecard_versions"),
            "staff_id": actors["bd"].id, "to_staff_id": actors["bd"].id,
            "assignee_id": actors["ops"].id,
            "issuer": "https://sso.example.com/realms/dh", "subject": "probe-subject",
            "identity_id": one("SELECT coalesce(min(id), 1) FROM ops.staff_identities"),
            # order loans (console/finance/loans.py)
            "order_id": one("SELECT coalesce(min(id), 1) FROM app.orders"),
            "loan_id": one("SELECT coalesce(min(id), 1) FROM fin.loans"),
            "principal": Decimal("1000.00"), "amount": Decimal("100.00"), "term_days": 30,
            "certificate_no": "WDZ0001", "channel": "bank", "reference": "PROBE-1",
            "promise_date": today + timedelta(days=3),
            # VIP membership (console/finance/vip.py)
            "tier": "gold", "fee_paid": "19800", "payment_ref": "PROBE-VIP-1",
            "membership_id": one("SELECT coalesce(min(id), 1) FROM fin.vip_memberships"),
            # transport requests (console/logistics/requests.py, tracking.py)
            "from_city_id": one("SELECT min(id) FROM app.cities"),
            "to_city_id": one("SELECT max(id) FROM app.cities"),
            "ready_date": today, "wanted_by": today + timedelta(days=5),
            "declared_value": "120000", "to_status": "quoted",
            # carriers, quotes, loads (console/logistics/carriers.py, quotes.py, loads.py)
            "carrier_id": one("SELECT coalesce(min(id), 1) FROM lgx.carriers"),
            "quote_id": one("SELECT coalesce(min(id), 1) FROM lgx.quotes"),
            "load_id": one("SELECT coalesce(min(id), 1) FROM lgx.loads"),
            "carrier_name": "探针物流", "contact_name": "王师傅", "contact_phone": "13800000000",
            "truck_types": ("large",), "truck_type": "large", "cover_per_car": "100000",
            "from_provinces": ("上海市",), "to_provinces": ("四川省",),
            "from_province": "上海市", "to_province": "四川省", "band_from_km": 0,
            "yuan_per_car_km": "1.2", "min_per_car": "0", "price_per_car": "2500",
            "status": "suspended", "day": today, "depart_date": today + timedelta(days=1),
            "request_ids": (), "versions": (),
            "merchant_ids": (1, 2),   # the buyers of a board (console/services/bd_credit.py)
            # claims and ratings (console/logistics/claims.py, ratings.py)
            "claim_id": one("SELECT coalesce(min(id), 1) FROM lgx.claims"),
            "evidence_ref": "IMG_0001.jpg", "description": "车门划痕",
            "carrier_response": "同意赔付", "settled_amount": Decimal("100.00"), "stars": 5,
            # self-operated stock (console/inventory/prices.py, sales.py)
            "stock_car_id": one("""SELECT coalesce(min(id), 1) FROM inv.stock_cars
                                   WHERE status = 'in_stock'"""),
            "asking_price": "210000", "floor_price": "200000", "sold_price": "210000",
            # the aged-stock boost of the match policy (console/services/aged_stock_boost.py)
            "points": "3", "after_days": 60, "full_days": 30,
            # a parallel import's details (console/imports/details.py)
            "market_version": "us", "port": "tianjin", "availability": "in_stock",
        }
    return {"actors": actors, "valid": valid, "today": today}


def _filters(cls, today):
    from console.services.growth import GrowthFilters
    if cls is GrowthFilters:
        return GrowthFilters(start=today - timedelta(days=90), end=today)
    return cls()


def valid_kwargs(fn, world) -> dict:
    """Valid values for the parameters a call needs (the others keep their defaults)."""
    hints = boundary._hints(fn)
    kwargs = {}
    for name, p in inspect.signature(fn).parameters.items():
        if name in ("conn", "actor") or p.default is not inspect.Parameter.empty:
            continue
        annotation = hints.get(name)
        classes = [a for a in (annotation, *typing.get_args(annotation))
                   if isinstance(a, type) and dataclasses.is_dataclass(a)]
        kwargs[name] = (_filters(classes[0], world["today"]) if classes
                        else world["valid"][name])
    return kwargs


def with_value(fn, kwargs, path, value, world):
    name, _, field = path.partition(".")
    out = dict(kwargs)
    if field:
        current = out.get(name)
        if current is None:      # an optional filter left at its default
            current = inspect.signature(fn).parameters[name].default
        out[name] = dataclasses.replace(current, **{field: value})
    else:
        out[name] = value
    return out


# The tables the console can write, hashed: a refused or rolled-back call leaves them as
# they were (app.events, the marketplace's click stream, is large and never written here).
_TABLES = """SELECT table_schema || '.' || table_name FROM information_schema.tables
             WHERE table_schema IN ('app', 'ops', 'etl') AND table_type = 'BASE TABLE'
               AND table_name <> 'events' ORDER BY 1"""


def checksum(engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        tables = conn.execute(sa.text(_TABLES)).scalars().all()
        sql = " UNION ALL ".join(
            f"SELECT '{t}', count(*), coalesce(sum(hashtext(x::text)::bigint), 0) FROM {t} x"
            for t in tables)
        return {row[0]: tuple(row[1:]) for row in conn.execute(sa.text(sql))}


def call(engine, fn, actor, kwargs):
    """One call as a page makes it, always rolled back: ('ok', value) or ('refused', error)."""
    with engine.connect() as conn:
        conn.begin()
        try:
            return "ok", fn(conn=conn, actor=actor, **kwargs)
        except ConsoleError as err:
            return "refused", err
        finally:
            conn.rollback()


@pytest.mark.parametrize("name", SERVICES)
def test_hostile_values_are_refused_or_answered(name, hostile_db, world):
    fn = service(name)
    raw = inspect.unwrap(fn)
    role = next(r for r in ROLE_ORDER if r in fn.allowed_roles)
    actor = world["actors"][role]
    base = valid_kwargs(raw, world)
    before = checksum(hostile_db)
    problems = []
    for path, annotation in targets(raw):
        for kind in _kinds(annotation):
            for label, value in _values(kind):
                kwargs = with_value(raw, base, path, value, world)
                try:
                    outcome, result = call(hostile_db, fn, actor, kwargs)
                except Exception as exc:  # noqa: BLE001 - the point of the test
                    problems.append(f"{path} = {label}: {type(exc).__name__}: {str(exc)[:200]}")
                    continue
                if outcome == "refused" and not has_key(result.key):
                    problems.append(f"{path} = {label}: key {result.key} not in the catalogue")
                elif outcome == "refused" and any(
                        "{" in translate(result.key, lang, **result.params) for lang in LANGUAGES):
                    problems.append(f"{path} = {label}: {result.key} is missing a placeholder")
                must_refuse = label.strip("[]") not in MAY_PASS
                if must_refuse and not (outcome == "refused" and isinstance(result, InvalidInput)):
                    problems.append(f"{path} = {label}: not refused ({outcome}: {result!r:.100})")
    assert problems == []
    assert checksum(hostile_db) == before


def test_every_text_number_and_date_parameter_is_driven():
    """The corpus reaches the parameters the issue names, through their services."""
    driven = {f"{name.rsplit('.', 2)[-2]}.{name.rsplit('.', 1)[-1]}:{path}"
              for name in SERVICES for path, a in targets(inspect.unwrap(service(name)))
              if _kinds(a)}
    for expected in ("staff.create_staff:display_name", "staff.create_staff:username",
                     "credit.search_merchants:query", "credit.search_merchants:offset",
                     "credit.search_merchants:limit", "growth.funnel:filters.start",
                     "growth.funnel:filters.end", "search.search_listings:filters.price_min",
                     "merchants.search_directory:filters.name", "deals.add_note:body",
                     "vehicle_library.confirm_import:digest"):
        assert expected in driven
    assert len(SERVICES) >= 60


# ---------------------------------------------------------------- the boundary by itself
def _refusal(fn, **kwargs) -> InvalidInput:
    with pytest.raises(InvalidInput) as err:
        boundary.check_arguments(inspect.unwrap(fn), kwargs)
    return err.value


def test_the_boundary_refuses_with_the_key_of_the_field():
    from console.services import credit, growth, search, staff
    assert _refusal(staff.create_staff, username="new.user", display_name="名" * 61,
                    password="x", roles=["bd"]).key == "input.display_name"
    assert boundary.check_arguments(inspect.unwrap(staff.create_staff), {
        "username": "new.user", "display_name": "名" * 60, "password": "x",
        "roles": ["bd"]})["display_name"] == "名" * 60
    assert _refusal(staff.create_staff, username="bad user!", display_name="X", password="x",
                    roles=["bd"]).key == "input.username"
    assert _refusal(credit.search_merchants, offset=-1).key == "input.offset"
    assert _refusal(credit.search_merchants, limit=0).key == "input.limit"
    assert _refusal(credit.search_merchants, limit=1001).key == "input.limit"
    assert _refusal(credit.search_merchants, limit=True).key == "input.limit"
    err = _refusal(growth.funnel, filters=growth.GrowthFilters(start=date(1, 1, 1),
                                                               end=date(2026, 1, 1)))
    assert (err.key, err.params["min"], err.params["max"]) == ("input.start", "2000-01-01",
                                                               "2100-12-31")
    assert _refusal(search.search_listings,
                    filters=search.SearchFilters(price_min=math.nan)).key == "input.price"
    assert _refusal(search.search_listings,
                    filters=search.SearchFilters(points_max="5")).key == "input.points"


def test_the_boundary_normalises_what_it_accepts():
    from console.services import credit, search
    import numpy as np
    out = boundary.check_arguments(inspect.unwrap(credit.rating_card),
                                   {"merchant_id": np.int64(7)})
    assert type(out["merchant_id"]) is int and out["merchant_id"] == 7
    # NFC: "e" + combining acute becomes the one character "é".
    out = boundary.check_arguments(inspect.unwrap(credit.search_merchants), {"query": "Cafe\u0301"})
    assert out["query"] == "Café"
    out = boundary.check_arguments(inspect.unwrap(search.search_listings),
                                   {"filters": search.SearchFilters(price_min=5)})
    assert out["filters"].price_min == 5.0 and type(out["filters"].price_min) is float


def test_multiline_fields_keep_line_breaks_single_line_fields_do_not():
    from console.services import deals, staff
    kept = boundary.check_arguments(inspect.unwrap(deals.add_note),
                                    {"match_id": 1, "body": "第一行\n第二行\t完"})
    assert kept["body"] == "第一行\n第二行\t完"
    assert _refusal(staff.create_staff, username="a.b", display_name="A\nB", password="x",
                    roles=["bd"]).key == "input.display_name"


def test_like_escape_makes_wildcards_literal():
    assert boundary.like_escape("100%_a\\b") == "100\\%\\_a\\\\b"
    assert boundary.like_contains("%") == "%\\%%"


def test_every_like_search_takes_an_escaped_pattern():
    """A LIKE over a bound value must say ESCAPE (the pattern comes from like_contains);
    building the pattern in SQL ('%' || :q || '%') would let % and _ match anything."""
    import re
    from console.settings import PROJECT_ROOT
    found, unescaped = 0, []
    for path in (PROJECT_ROOT / "console").rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\bI?LIKE\s+(:|'%'\s*\|\|)", line):
                found += 1
                if not re.search(r"I?LIKE\s+:\w+\s+ESCAPE", line):
                    unescaped.append(f"{path.name}:{number}: {line.strip()}")
    assert unescaped == [] and found >= 3


# ---------------------------------------------------------------- exact cases on the demo
def test_percent_in_the_credit_merchant_search_finds_only_a_literal_percent(hostile_db, world):
    from console.services import credit
    risk = world["actors"]["risk"]
    for query in ("%", "_", "%%", "\\"):
        outcome, (page, total) = call(hostile_db, credit.search_merchants, risk, {"query": query})
        assert (outcome, total, len(page)) == ("ok", 0, 0), query
    merchant = world["valid"]["merchant_id"]
    with hostile_db.begin() as conn:
        original = conn.execute(sa.text("SELECT name FROM app.merchants WHERE id = :m"),
                                {"m": merchant}).scalar_one()
        conn.execute(sa.text("UPDATE app.merchants SET name = '百分百%车行' WHERE id = :m"),
                     {"m": merchant})
    try:
        outcome, (page, total) = call(hostile_db, credit.search_merchants, risk, {"query": "%"})
        assert (total, page["merchant_id"].tolist()) == (1, [merchant])
        outcome, (page, total) = call(hostile_db, credit.search_merchants, risk, {"query": "百_"})
        assert total == 0                  # "_" is not "any one character"
    finally:
        with hostile_db.begin() as conn:
            conn.execute(sa.text("UPDATE app.merchants SET name = :n WHERE id = :m"),
                         {"n": original, "m": merchant})


def test_percent_in_the_directory_search_finds_only_a_literal_percent(hostile_db, world):
    from console.services import merchants
    outcome, page = call(hostile_db, merchants.search_directory, world["actors"]["bd"],
                         {"filters": merchants.DirectoryFilters(name="%")})
    assert (outcome, page.total) == ("ok", 0)


@pytest.mark.parametrize("kwargs, key", [
    ({"display_name": "名" * 61}, "input.display_name"),
    ({"display_name": "A\x00B"}, "input.display_name"),
    ({"username": "bad user"}, "input.username"),
    ({"username": "ab"}, "input.username"),
    ({"username": "x" * 41}, "input.username"),
    ({"username": "nul\x00user"}, "input.username"),
])
def test_account_creation_refuses_what_the_table_would(hostile_db, world, kwargs, key):
    from console.services import staff
    args = {"username": "new.user", "display_name": "新同事", "password": "Zq8!rT5#wLm2vX",
            "roles": ["bd"], **kwargs}
    before = checksum(hostile_db)
    with pytest.raises(InvalidInput) as err, db.transaction() as conn:
        staff.create_staff(conn=conn, actor=world["actors"]["admin"], **args)
    assert err.value.key == key
    assert checksum(hostile_db) == before


def test_negative_paging_is_refused_by_name(hostile_db, world):
    from console.services import data_quality
    admin = world["actors"]["admin"]
    for kwargs, key in (({"offset": -1}, "input.offset"), ({"limit": -5}, "input.limit"),
                        ({"limit": 0}, "input.limit")):
        outcome, err = call(hostile_db, data_quality.quarantined_rows, admin, kwargs)
        assert (outcome, err.key) == ("refused", key)


# ---------------------------------------------------------------- the vehicle-library import
def _csv(*rows: str) -> bytes:
    return ("brand,series,trim,model_year,guide_price\n" + "\n".join(rows) + "\n").encode()


def _library_names(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text("""SELECT b.name, s.name FROM app.series s
                                       JOIN app.brands b ON b.id = s.brand_id
                                       ORDER BY s.id LIMIT 1""")).one()


def test_the_preview_refuses_the_cells_confirm_would_fail_on(hostile_db, world):
    from console.services import vehicle_library as lib
    brand, series = _library_names(hostile_db)
    ops = world["actors"]["ops"]
    content = _csv(f"{brand},{series},{'长' * 3200},2025,150000",
                   f"{brand},{series},2025款 A\x00B,2025,150000",
                   f"{brand},{series},{'x' * 200_000},2025,150000",
                   f"{brand},{series},2025款 可以导入的车型,2025,150000")
    outcome, plan = call(hostile_db, lib.preview_import, ops, {"content": content})
    assert outcome == "ok"
    errors = plan.errors[["row", "code", "field"]].values.tolist()
    assert errors == [[2, "too_long", "trim"], [3, "bad_characters", "trim"],
                      [4, "unreadable", ""]]
    assert plan.errors["value"].str.len().max() < 60          # shown shortened
    assert plan.errors["value"].iloc[1] == "2025款 A\\u0000B"
    assert plan.to_add["trim"].tolist() == ["2025款 可以导入的车型"]
    # Confirm agrees with the preview: it writes the one good row, no driver error.
    outcome, result = call(hostile_db, lib.confirm_import, ops,
                           {"content": content, "digest": plan.digest})
    assert (outcome, result.added, result.changed) == ("ok", 1, 0)


# ---------------------------------------------------------------- sign-in
def test_a_nul_in_the_sign_in_name_is_a_wrong_credential(hostile_db, world):
    from console.auth import authenticate
    with pytest.raises(InvalidInput) as err:
        authenticate(engine=hostile_db, username="hostile.ops\x00", password="x")
    assert err.value.key == "auth.bad_credentials"
