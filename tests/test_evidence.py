"""A listing flag's evidence is written as sentences with the numbers in context, in both
languages, for every kind of flag the scan raises (console.services.flag_evidence)."""
from __future__ import annotations

import pytest

from console.services import flag_evidence as fe
from console.services import listing_review as lr

CASES = {
    "price_below_guide": (
        {"gap": 8, "usual": 5.4, "points": 13.6}, "unread",
        "报价比指导价低 13.6 点，该车系通常下 5.4 点，多下 8.2 点，超出阈值 8 点。",
        "Priced 13.6 points below guide; this series usually sells 5.4 points below guide, so "
        "8.2 points more than usual, over the threshold of 8 points."),
    "vin_malformed": (
        {"vin": "1M8GDM9A0KP042788", "problem": "check_digit"}, "check_digit",
        "车架号 1M8GDM9A0KP042788 第 9 位校验位与按 GB 16735 计算的结果不符。"
        "按现行规则读取，该车架号校验位仍然错误。",
        "VIN 1M8GDM9A0KP042788 has a check digit (position 9) that does not match the one "
        "GB 16735 computes. Read by today's rules, the VIN's check digit is still wrong."),
    "vin_duplicate": (
        {"vin": "LFV2A21K3S3004242", "other_listing": 41, "other_merchant": 7}, None,
        "车架号 LFV2A21K3S3004242 已由商户 #7 在车源 #41 中先发布。",
        "VIN LFV2A21K3S3004242 was first listed by merchant #7 in listing #41."),
    "cert_rejected": (
        {"certification_id": 93, "reason_code": "document_forged"}, "unread",
        "该商户的认证案件 #93 近期被驳回（原因：材料疑似伪造），此后没有通过的认证。",
        "This merchant's certification case #93 was rejected recently (reason: Document "
        "appears forged), with no approval since."),
    "reported_fake": (
        {"reports": 3, "reporters": 2}, "unread",
        "该车源被 2 个商户举报为虚假车源，共 3 条评价。",
        "2 merchants reported this listing as fake, in 3 reviews."),
}


def test_every_kind_the_scan_raises_has_its_sentences():
    assert set(CASES) == set(lr.KINDS)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_evidence_reads_as_sentences_in_both_languages(kind):
    detail, vin_reason, zh, en = CASES[kind]
    assert fe.evidence_text(kind, detail, "zh", vin_reason=vin_reason) == zh
    assert fe.evidence_text(kind, detail, "en", vin_reason=vin_reason) == en
    # Never the JSON it came from.
    assert "{" not in zh + en and '"' not in zh + en


def test_the_phrases_are_catalogue_keys_with_their_numbers():
    [(key, params)] = fe.evidence("price_below_guide", {"gap": 8, "usual": 5.4, "points": 13.6})
    assert key == "ops.evidence.price_below_guide"
    assert params["points"] == "13.6" and params["gap"] == "8" and params["excess"] == "8.2"
    assert params["usual_phrase"] == fe.Label("ops.evidence.usual_below.series", {"usual": "5.4"})


@pytest.mark.parametrize("basis, zh, en", [
    ("series", "该车系通常下 14 点", "this series usually sells 14 points below guide"),
    ("brand", "该车系车源太少，按该品牌同产地车源计通常下 14 点",
     "this series has few listings; its brand's of the same origin usually sell 14 points "
     "below guide"),
    ("origin", "该品牌车源太少，按同产地车源计通常下 14 点",
     "this brand has few listings; listings of the same origin usually sell 14 points below "
     "guide"),
    ("market", "同类车源太少，按全市场计通常下 14 点",
     "too few similar listings; the whole market usually sells 14 points below guide"),
])
def test_the_price_evidence_names_what_usual_was_measured_on(basis, zh, en):
    detail = {"points": 25, "usual": 14, "gap": 8, "basis": basis}
    assert fe.evidence_text("price_below_guide", detail, "zh") == \
        f"报价比指导价低 25 点，{zh}，多下 11 点，超出阈值 8 点。"
    assert fe.evidence_text("price_below_guide", detail, "en") == \
        f"Priced 25 points below guide; {en}, so 11 points more than usual, over the " \
        f"threshold of 8 points."


def test_a_series_usually_sold_above_guide_says_so():
    text = fe.evidence_text("price_below_guide", {"gap": 8.5, "usual": -2, "points": 7.4}, "zh")
    assert text == "报价比指导价低 7.4 点，该车系通常加价 2 点，多下 9.4 点，超出阈值 8.5 点。"


@pytest.mark.parametrize("vin_reason, zh", [
    (None, "按现行规则读取，该车架号现在校验通过。"),
    ("not_checkable", "按现行规则读取，该车架号无法校验：其 WMI 不属于中国或北美，"
                      "该市场不要求第 9 位校验位（不算格式错误）。"),
    ("format", "按现行规则读取，该车架号格式仍然错误。"),
])
def test_a_vin_flag_says_how_the_vin_reads_today(vin_reason, zh):
    text = fe.evidence_text("vin_malformed", {"vin": "WDC1660241A000001", "problem": "format"},
                            "zh", vin_reason=vin_reason)
    assert text == ("车架号 WDC1660241A000001 格式错误：应为 17 位，且不含字母 I、O、Q。" + zh)


def test_a_duplicate_vin_that_no_longer_reads_well_says_so():
    text = fe.evidence_text("vin_duplicate", {"vin": "X", "other_listing": 1, "other_merchant": 2},
                            "en", vin_reason="format")
    assert text == ("VIN X was first listed by merchant #2 in listing #1. "
                    "Read by today's rules, the VIN is still malformed.")


def test_incomplete_or_unknown_evidence_is_said_in_words():
    assert fe.evidence_text("price_below_guide", {}, "zh") == "预警记录的依据不完整。"
    assert fe.evidence_text("reported_fake", None, "en") == \
        "The flag's record of its evidence is incomplete."
    assert fe.evidence_text("something_new", {"x": 1}, "en") == "Unknown kind of flag."
    assert fe.evidence_text("cert_rejected", {"certification_id": 5}, "zh") == \
        "该商户的认证案件 #5 近期被驳回（原因：未记录），此后没有通过的认证。"
