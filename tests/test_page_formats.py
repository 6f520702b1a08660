"""One format for numbers and dates on the pages (issue #14): an expiry reads as the day
chosen, prices of single cars in yuan, times without an offset."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from console.credit import engine as credit_engine
from console.services import credit
from tests.apptest import app_as
from tests.test_credit_support import hand_card, merchant
from tests.test_vehicle_library import library  # noqa: F401  (fixture)


def test_an_override_chosen_until_a_day_shows_that_day(engine, make_actor, tmp_path):
    weak = merchant(engine, name="弱车商", cert_level="none", disputes_lost=1, avg_stars=4.0)
    with engine.begin() as conn:
        credit_engine.score_all(conn, hand_card(tmp_path))
    alice, bob = make_actor("risk"), make_actor("risk")
    with engine.begin() as conn:
        credit.propose_override(conn=conn, actor=alice, merchant_id=weak, new_grade="A",
                                reason_code="guarantee", reason="集团担保",
                                expires_on=date(2027, 2, 28))
    at = app_as(bob, page="pages/risk_overrides.py")
    assert not at.exception and not at.error
    [meta] = [c.value for c in at.caption if "有效至" in c.value]
    assert "有效至 2027-02-28 ·" in meta           # stored as 2027-03-01 00:00, shown as chosen
    assert "2027-03-01" not in meta and "+08:00" not in meta


def test_single_trims_show_their_price_in_yuan(library, engine):
    at = app_as(library["ops"], page="pages/vehicle_library.py")
    with engine.connect() as c:
        toyota = c.execute(sa.text("SELECT id FROM app.brands WHERE name = '丰田'")).scalar()
    next(w for w in at.selectbox if w.label == "品牌").set_value(toyota).run()
    table = at.dataframe[0].value     # 凯美瑞's two trims, as the library holds them
    assert table[["车型", "厂商指导价"]].values.tolist() == [
        ["2024款 2.0E 精英版", "¥179,800"], ["2024款 2.5G 豪华版", "¥209,800"]]
    assert all("+08:00" not in v and len(v) == 16 for v in table["更新时间"])
