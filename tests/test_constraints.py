"""The schema states what is valid: each invalid row below is refused by PostgreSQL itself."""
import pytest
import sqlalchemy as sa

from tests import trust_rows as rows

CITY = """INSERT INTO app.cities (name, short_name, adcode, province, tier_level, tier_name,
                                  longitude, latitude)
          VALUES ('苏州市', '苏州', :adcode, '江苏省', :tier, '新一线', :lon, 31.3)"""
MERCHANT = """INSERT INTO app.merchants (name, merchant_type, city_id, channel, registered_at, phone,
                                         vip_level, status)
              VALUES ('某车行', :mtype, :city, :channel, now(), :phone, :vip, :status)"""
LISTING = """INSERT INTO app.listings (merchant_id, trim_id, exterior_color, interior_color, quantity,
                                       city_id, price, guide_price, available_from, status, published_at)
             VALUES (:m, :t, '白色', '黑色', :qty, :city, :price, 200000, current_date, :status, now())"""
ORDER = """INSERT INTO app.orders (listing_id, buyer_id, seller_id, quantity, unit_price, amount,
                                   deposit_amount, escrow_state, status, created_at)
           VALUES (:l, :buyer, :seller, 1, 180000, 180000, :deposit, :escrow, :status, now())"""


@pytest.fixture
def world(engine):
    city = rows.city(engine)
    trim = rows.trim(engine)
    seller = rows.merchant(engine, city_id=city)
    buyer = rows.merchant(engine, city_id=city)
    listing = rows.listing(engine, merchant_id=seller, trim_id=trim, city_id=city)
    return {"city": city, "trim": trim, "seller": seller, "buyer": buyer, "listing": listing}


GOOD_CITY = {"adcode": "320500", "tier": 2, "lon": 120.6}
GOOD_MERCHANT = {"mtype": "4s", "channel": "organic", "phone": "13812345678", "vip": 0, "status": "active"}
GOOD_LISTING = {"qty": 1, "price": 180000, "status": "live"}
GOOD_ORDER = {"deposit": 5000, "escrow": "held", "status": "deposit_paid"}


@pytest.mark.parametrize("sql, good, bad", [
    (CITY, GOOD_CITY, {"tier": 7}),
    (CITY, GOOD_CITY, {"lon": 200}),
    (MERCHANT, GOOD_MERCHANT, {"mtype": "dealer"}),
    (MERCHANT, GOOD_MERCHANT, {"channel": "tv"}),
    (MERCHANT, GOOD_MERCHANT, {"phone": "12812345678"}),
    (MERCHANT, GOOD_MERCHANT, {"phone": "1381234567"}),
    (MERCHANT, GOOD_MERCHANT, {"vip": 6}),
    (MERCHANT, GOOD_MERCHANT, {"status": "deleted"}),
    (LISTING, GOOD_LISTING, {"qty": 0}),
    (LISTING, GOOD_LISTING, {"price": -1}),
    (LISTING, GOOD_LISTING, {"status": "sold_out"}),
    (ORDER, GOOD_ORDER, {"deposit": -100}),
    (ORDER, GOOD_ORDER, {"escrow": "frozen"}),
    (ORDER, GOOD_ORDER, {"status": "shipped"}),
], ids=lambda v: str(v)[:40] if isinstance(v, dict) else None)
def test_invalid_row_is_refused_and_the_valid_one_accepted(engine, world, sql, good, bad):
    params = {"city": world["city"], "m": world["seller"], "t": world["trim"], "l": world["listing"],
              "buyer": world["buyer"], "seller": world["seller"]}
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.text(sql), {**params, **good, **bad})
    with engine.begin() as conn:  # the same row with the valid value goes in
        conn.execute(sa.text(sql), {**params, **good})


@pytest.mark.parametrize("statement", [
    # personal certification without an ID number
    """INSERT INTO app.certifications (merchant_id, kind, real_name, submitted_at)
       VALUES (:seller, 'personal', '张伟', now())""",
    # enterprise certification without a USCC
    """INSERT INTO app.certifications (merchant_id, kind, company_name, legal_rep, submitted_at)
       VALUES (:seller, 'enterprise', '某某公司', '张伟', now())""",
    # a rejection without a reason code
    """INSERT INTO app.certifications (merchant_id, kind, real_name, id_number, status, submitted_at,
                                       decided_at)
       VALUES (:seller, 'personal', '张伟', '11010519491231002X', 'rejected', now(), now())""",
    # an approval without a decision time
    """INSERT INTO app.certifications (merchant_id, kind, real_name, id_number, status, submitted_at)
       VALUES (:seller, 'personal', '张伟', '11010519491231002X', 'approved', now())""",
    # buying from yourself
    """INSERT INTO app.orders (listing_id, buyer_id, seller_id, quantity, unit_price, amount,
                               deposit_amount, created_at)
       VALUES (:listing, :seller, :seller, 1, 1, 1, 0, now())""",
    # a review of yourself, and stars out of range
    """INSERT INTO app.reviews (reviewer_id, target_merchant_id, stars, created_at)
       VALUES (:seller, :seller, 5, now())""",
    """INSERT INTO app.reviews (reviewer_id, target_merchant_id, stars, created_at)
       VALUES (:buyer, :seller, 6, now())""",
    # a bidding request without a deadline
    """INSERT INTO app.requests (merchant_id, series_id, quantity, city_id, max_price, needed_by,
                                 mode, created_at)
       VALUES (:buyer, (SELECT series_id FROM app.trims LIMIT 1), 1, :city, 100000,
               current_date + 7, 'bidding', now())""",
    # a listing of a trim that does not exist (foreign key)
    """INSERT INTO app.listings (merchant_id, trim_id, exterior_color, interior_color, quantity, city_id,
                                 price, guide_price, available_from, published_at)
       VALUES (:seller, 999999, '白', '黑', 1, :city, 1, 1, current_date, now())""",
    # a staff account with a role that does not exist
    """INSERT INTO ops.staff (username, display_name, password_hash, roles)
       VALUES ('someone', 'X', 'h', ARRAY['ceo'])""",
    # a deal card marked lost without a reason
    """INSERT INTO ops.matches (request_id, listing_id, source, stage)
       VALUES ((SELECT id FROM app.requests LIMIT 1), :listing, 'manual', 'lost')""",
])
def test_rules_across_columns_are_enforced(engine, world, statement):
    if "app.requests LIMIT 1" in statement:
        with engine.begin() as conn:
            conn.execute(sa.text(
                """INSERT INTO app.requests (merchant_id, series_id, quantity, city_id, max_price,
                                             needed_by, created_at)
                   VALUES (:b, (SELECT series_id FROM app.trims LIMIT 1), 1, :c, 100000,
                           current_date + 7, now())"""), {"b": world["buyer"], "c": world["city"]})
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.text(statement), world)
