"""The audit log reads stored codes in words, in both languages: the logistics desk's (a
claim's status and kind, a request's status and truck type), a stock car's status and an
import document's status and kind."""
from __future__ import annotations

import pytest

from console.services import audit_log


@pytest.mark.parametrize("entity, before, after, lang, expected", [
    ("lgx_claim", {"status": "open"}, {"status": "settled", "kind": "damage"}, "zh",
     "状态：待处理 → 已赔付；理赔类型：货损"),
    ("lgx_claim", {"status": "responded"}, {"status": "rejected"}, "en",
     "Status: Carrier responded → Rejected"),
    ("transport_request", {"status": "picked_up"}, {"status": "in_transit"}, "en",
     "Status: Picked up → In transit"),
    ("transport_request", None, {"truck_type": "large"}, "zh", "车型：大板"),
    # issue 21's records: a stock car sold, an import document approved
    ("stock_car", {"status": "reserved"}, {"status": "sold"}, "zh", "状态：已预留 → 已售"),
    ("stock_car", {"status": "in_stock"}, {"status": "reserved"}, "en",
     "Status: In stock → Reserved"),
    ("import_document", {"status": "pending"}, {"status": "approved", "kind": "customs"}, "zh",
     "状态：待审核 → 已通过；单证类型：关单"),
])
def test_logistics_codes_read_as_words(entity, before, after, lang, expected):
    assert audit_log.changes_text(before, after, lang=lang, staff={},
                                  entity_type=entity) == expected
