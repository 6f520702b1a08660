"""Audit rows of certification and listing-flag decisions read in words in both languages:
no field name (note, cert_level, requested_docs, listing_taken_down) and no stored code
(a reason, a document, a certification level) shows as it is stored."""
from __future__ import annotations

import pytest

from console.services.audit_log import changes_text

NEEDS_INFO = ({"status": "in_review"},
              {"note": "请补充", "status": "needs_info", "cert_level": "none",
               "reason_code": "document_unclear", "requested_doc": "id_front",
               "requested_docs": ["id_front", "id_back"]})
TAKEDOWN = ({"status": "in_review"},
            {"note": "低价引流", "status": "confirmed", "listing_id": 29520,
             "reason_code": "price_fake", "listing_taken_down": True})


@pytest.mark.parametrize("lang, row, expected", [
    ("zh", NEEDS_INFO, "状态：审核中 → 待补充资料；说明：请补充；认证等级：未认证；原因：材料不清晰；"
                       "要求补充的材料：身份证人像面、身份证国徽面"),
    ("en", NEEDS_INFO, "Status: In review → Needs info; Note: 请补充; Certification level: Not certified; "
                       "Reason: Document unclear; "
                       "Documents asked for: ID card, photo side, ID card, emblem side"),
    ("zh", TAKEDOWN, "状态：审核中 → 已确认；说明：低价引流；车源：#29520；原因：虚假低价引流；车源已下架：是"),
    ("en", TAKEDOWN, "Status: In review → Confirmed; Note: 低价引流; Listing: #29520; "
                     "Reason: Bait price; Listing taken down: yes"),
])
def test_decision_rows_read_in_words(lang, row, expected):
    assert changes_text(*row, lang=lang, staff={}) == expected


def test_a_single_document_asked_for_alone_still_shows():
    assert changes_text(None, {"requested_doc": "id_front"}, lang="zh", staff={}) == (
        "要求补充的材料：身份证人像面")


def test_a_reason_of_another_area_and_an_unknown_code(lang="en"):
    assert changes_text(None, {"reason_code": "guarantee"}, lang=lang, staff={}) == (
        "Reason: Group or third-party guarantee")
    assert changes_text(None, {"reason_code": "fake_listings"}, lang="zh", staff={}) == (
        "原因：发布虚假车源")
    assert changes_text(None, {"reason_code": "no_such_code"}, lang="zh", staff={}) == (
        "原因：no_such_code")
