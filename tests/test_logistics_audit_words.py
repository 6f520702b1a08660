"""The audit log reads the logistics desk's stored codes in words (a claim's status and kind,
a request's status and truck type), in both languages."""
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
])
def test_logistics_codes_read_as_words(entity, before, after, lang, expected):
    assert audit_log.changes_text(before, after, lang=lang, staff={},
                                  entity_type=entity) == expected
