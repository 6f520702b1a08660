"""A listing flag's evidence in words: the sentences a reviewer reads instead of its JSON.

``evidence(kind, detail, vin_reason=...)`` turns a flag's ``detail`` (what the scan in
console.services.listing_review recorded) into catalogue phrases: a list of
``(key, params)``. Numbers are already written (console.fmt); a parameter that is itself a
catalogue label (a reason code, a VIN problem) is a ``Label`` and is translated when the
phrase is rendered. ``render(phrases, lang)`` gives the text. Pure: no database, no
streamlit, so a test can hold every kind to its exact wording in both languages.

    evidence("price_below_guide", {"points": 13.6, "usual": 5.4, "gap": 8})
    -> [("ops.evidence.price_below_guide",
         {"points": "13.6", "excess": "8.2", "gap": "8",
          "usual_phrase": Label("ops.evidence.usual_below.series", {"usual": "5.4"})})]
    render(..., "zh") -> ["报价比指导价低 13.6 点，该车系通常下 5.4 点，比通常多下 8.2 点，超出阈值 8 点。"]
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from console import fmt
from console.i18n import translate
from console.imports.details import MARKET_VERSIONS

Phrase = tuple[str, dict[str, Any]]
BASES = ("series", "brand", "origin", "market")


@dataclass(frozen=True)
class Label:
    """A parameter that is a catalogue entry of its own (with its own parameters)."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:  # params is a dict; the key is enough to tell labels apart
        return hash(self.key)


def _pts(value: Any) -> str:
    """Points as staff say them: 8 -> '8', 13.6 -> '13.6', 5.45 -> '5.5'."""
    v = round(float(value), 1)
    return fmt.number(v, digits=0 if v.is_integer() else 1)


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if v != v else v  # NaN is no number


def _id(value: Any) -> str | None:
    try:
        return f"#{int(value)}"
    except (TypeError, ValueError):
        return None


def _import_price(detail: Mapping[str, Any]) -> list[Phrase]:
    """A parallel import judged against its price reference (console/imports/prices.py):
    how far below the median, of how many prices, for which market version."""
    points, reference, count, gap = (_num(detail.get(k))
                                     for k in ("points", "reference", "count", "gap"))
    if points is None or reference is None or count is None:
        return [("ops.evidence.incomplete", {})]
    version = detail.get("market_version")
    params: dict[str, Any] = {
        "points": _pts(points), "reference": fmt.yuan(reference), "count": fmt.number(count),
        "version": Label(f"imports.listing.market.{version}") if version in MARKET_VERSIONS
        else Label("imports.listing.market.unknown")}
    if gap is None:
        return [("imports.evidence.price_below_reference.no_gap", params)]
    return [("imports.evidence.price_below_reference", {**params, "gap": _pts(gap)})]


def _price(detail: Mapping[str, Any]) -> list[Phrase]:
    if detail.get("basis") == "import_reference":
        return _import_price(detail)
    points, usual, gap = (_num(detail.get(k)) for k in ("points", "usual", "gap"))
    if points is None or usual is None:
        return [("ops.evidence.incomplete", {})]
    # What "usual" was measured on (the scan's detail 'basis'): the series' own listings, or
    # for a thin series its brand's, its origin's or the whole market's.
    basis = detail.get("basis") if detail.get("basis") in BASES else "series"
    if usual >= 0:
        usual_phrase = Label(f"ops.evidence.usual_below.{basis}", {"usual": _pts(usual)})
    else:
        usual_phrase = Label(f"ops.evidence.usual_above.{basis}", {"usual": _pts(-usual)})
    params: dict[str, Any] = {"points": _pts(points), "usual_phrase": usual_phrase,
                              "excess": _pts(points - usual)}
    if gap is None:
        return [("ops.evidence.price_below_guide.no_gap", params)]
    return [("ops.evidence.price_below_guide", {**params, "gap": _pts(gap)})]


def _vin_malformed(detail: Mapping[str, Any], vin_reason: str | None) -> list[Phrase]:
    vin = str(detail.get("vin") or "—")
    problem = detail.get("problem")
    key = {"format": "ops.evidence.vin_malformed.format",
           "check_digit": "ops.evidence.vin_malformed.check_digit"}.get(
        problem, "ops.evidence.vin_malformed")
    return [(key, {"vin": vin}), *_vin_now(vin_reason)]


def _vin_now(vin_reason: str | None) -> list[Phrase]:
    """How the listing's VIN reads today, whatever the flag recorded when it was raised."""
    if vin_reason == "unread":
        return []
    return [("ops.evidence.vin_now." + (vin_reason or "valid"), {})]


def _vin_duplicate(detail: Mapping[str, Any], vin_reason: str | None) -> list[Phrase]:
    return [("ops.evidence.vin_duplicate",
             {"vin": str(detail.get("vin") or "—"),
              "other_merchant": _id(detail.get("other_merchant")) or "—",
              "other_listing": _id(detail.get("other_listing")) or "—"}),
            *(_vin_now(vin_reason) if vin_reason is not None else [])]


def _cert_rejected(detail: Mapping[str, Any]) -> list[Phrase]:
    code = detail.get("reason_code")
    reason = Label(f"trust.reason.{code}") if code else Label("ops.evidence.no_reason")
    return [("ops.evidence.cert_rejected",
             {"case": _id(detail.get("certification_id")) or "—", "reason": reason})]


def _reported(detail: Mapping[str, Any]) -> list[Phrase]:
    reports, reporters = _num(detail.get("reports")), _num(detail.get("reporters"))
    if reports is None:
        return [("ops.evidence.incomplete", {})]
    return [("ops.evidence.reported_fake",
             {"reports": fmt.number(reports),
              "reporters": fmt.number(reporters if reporters is not None else reports)})]


def evidence(kind: str, detail: Mapping[str, Any] | None, *,
             vin_reason: str | None = "unread") -> list[Phrase]:
    """The sentences of one flag. ``vin_reason`` is how the listing's VIN reads now
    (console.checks.vin_reason: None valid, 'format', 'check_digit', 'not_checkable');
    leave it out when unknown and the VIN kinds say nothing about today's reading."""
    detail = detail or {}
    if kind == "price_below_guide":
        return _price(detail)
    if kind == "vin_malformed":
        return _vin_malformed(detail, vin_reason)
    if kind == "vin_duplicate":
        return _vin_duplicate(detail, vin_reason)
    if kind == "cert_rejected":
        return _cert_rejected(detail)
    if kind == "reported_fake":
        return _reported(detail)
    return [("ops.evidence.unknown_kind", {})]


def _text(key: str, params: Mapping[str, Any], lang: str) -> str:
    done = {k: _text(v.key, v.params, lang) if isinstance(v, Label) else v
            for k, v in params.items()}
    return translate(key, lang, **done)


def render(phrases: list[Phrase], lang: str) -> list[str]:
    """The phrases as text in ``lang``, one sentence each."""
    return [_text(key, params, lang) for key, params in phrases]


def evidence_text(kind: str, detail: Mapping[str, Any] | None, lang: str, *,
                  vin_reason: str | None = "unread") -> str:
    """The evidence as one paragraph."""
    sep = "" if lang == "zh" else " "
    return sep.join(render(evidence(kind, detail, vin_reason=vin_reason), lang))
