"""The audit log as people read it (issue #14): who did what to which record, the fields it
changed in words (label, old value → new value, formatted), the decision's note; filters,
paging and an audited export; and the hash chain's verification (migration 061), run on
request and remembered as an audit row of its own rather than recomputed on every load.

Every action code the services write has a catalogue label ``audit.action.<code>``;
a code without one shows as itself (``action_label``), and tests/test_audit_page.py fails
for a code written in the source without a label.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from console import db, fmt
from console.audit import ChainBreak, ChainReport, verify_chain, write_audit
from console.boundary import Text
from console.clock import business_tz
from console.errors import InvalidInput
from console.exports import audited_csv
from console.i18n import catalogue, has_key, translate
from console.roles import Actor, requires

READ_ROLES = ("admin", "manager")
Lang = Literal["zh", "en"]
EXPORT_MAX_ROWS = 50_000
CHAIN_ENTITY = ("audit_log", "chain")     # where a verification records its result

# Fields whose value is a staff id: shown as the person's display name.
STAFF_FIELDS = frozenset({"assignee_id", "owner_id", "bd_owner_id", "actor_id", "staff_id",
                          "proposed_by", "approved_by", "decided_by"})
# Amounts in yuan (their labels say so): thousands separators, cents only when there are some.
MONEY_FIELDS = frozenset({"deposit", "seller_amount", "buyer_amount", "amount", "limit",
                          "fee_paid"})
# Where a field's value is an enumeration, the catalogue groups it may belong to, in order.
ENUM_FIELDS = {
    "status": ("cert_status", "merchant_status", "listing_status", "request_status",
               "order_status", "run_status", "escrow_state"),
    "stage": ("match_stage",),
    "from_stage": ("match_stage",),
    "to_stage": ("match_stage",),
    "kind": ("channel", "cert_kind"),
    "cert_level": ("cert_level",),
    "source": (),        # a card's or a scorecard's origin: audit.value.<code>
    "language": (),      # a person's language (console/preferences.py): audit.value.zh / en
}
# Codes kept in a row whose words live under another prefix: field -> prefixes, tried in
# order (a review reason, a document asked for, an override's or a suspension's reason).
CODE_FIELDS = {
    "reason_code": ("trust.reason", "credit.override_reason", "directory.reason"),
    "requested_doc": ("trust.doc",),
    "requested_docs": ("trust.doc",),
}
# Per record type, fields whose codes have words under a prefix of their own, tried before
# the generic rules above (a membership's ``status`` is not a merchant's: active reads 有效).
ENTITY_CODE_FIELDS = {
    "vip_membership": {"tier": ("finance.vip.tier",), "status": ("finance.vip.status",),
                       "previous_status": ("finance.vip.status",),
                       "reason_code": ("finance.vip.cancel_reason",)},
    # The logistics desk (issue 20): a request's, a load's, a carrier's and a claim's codes.
    "transport_request": {"status": ("enum.lgx_status",), "truck_type": ("enum.lgx_truck",),
                          "source": ("enum.lgx_source",),
                          "exception_kind": ("enum.lgx_exception",)},
    "lgx_load": {"status": ("enum.lgx_load_status",), "truck_type": ("enum.lgx_truck",)},
    "carrier": {"status": ("enum.lgx_carrier_status",), "truck_type": ("enum.lgx_truck",)},
    "lgx_claim": {"status": ("enum.lgx_claim_status",), "kind": ("enum.lgx_claim_kind",)},
    # Issue 21: a stock car's status, an import document's status and kind.
    "stock_car": {"status": ("enum.stock_status",)},
    "import_document": {"status": ("imports.docs.state",), "kind": ("imports.docs.kind",)},
}
# An exclusive end at local midnight, shown as the day chosen (fmt.expiry_day).
EXPIRY_FIELDS = frozenset({"expires_at"})
# A field written beside the list that now carries the same: the list alone is shown.
SHADOWED = {"requested_doc": "requested_docs"}
# Lists of record ids.
ID_LIST_FIELDS = frozenset({"superseded"})
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TEXT_SHOWN = 80      # characters of a long text value (a note's body) shown in a row


# ---------------------------------------------------------------- words for codes
def action_codes() -> list[str]:
    """Every action code the catalogue has a label for, sorted."""
    return sorted(k.removeprefix("audit.action.") for k in catalogue()
                  if k.startswith("audit.action."))


def entity_types() -> list[str]:
    return sorted(k.removeprefix("audit.entity.") for k in catalogue()
                  if k.startswith("audit.entity."))


def action_label(code: str, lang: str) -> str:
    """'match.move' -> '移动交易卡片' / 'Deal card moved'; an unknown code shows as itself."""
    key = f"audit.action.{code}"
    return translate(key, lang) if has_key(key) else code


def entity_label(entity_type: str, lang: str) -> str:
    key = f"audit.entity.{entity_type}"
    return translate(key, lang) if has_key(key) else entity_type


def field_label(field: str, lang: str, entity_type: str | None = None) -> str:
    """A field's words; ``audit.field.<entity_type>.<field>`` first, where one name means
    different things per record (a flag's ``superseded`` are the listing's other flags, an
    override's the merchant's older overrides)."""
    for key in ((f"audit.field.{entity_type}.{field}",) if entity_type else ()) + (
            f"audit.field.{field}",):
        if has_key(key):
            return translate(key, lang)
    return field


def _key_label(key: str, lang: str) -> str:
    """A key inside a stored mapping: a field, else a listing flag's kind, else itself."""
    for candidate in (f"audit.field.{key}", f"trust.flag_kind.{key}"):
        if has_key(candidate):
            return translate(candidate, lang)
    return key


def value_text(field: str, value: Any, *, lang: str, staff: dict[int, str],
               entity_type: str | None = None) -> str:
    """One stored value in words: a person's name, an enumeration's label, a time in
    Shanghai time, yes/no, a list joined; never a Python or JSON literal. ``entity_type``:
    the record's, for codes whose words depend on it (ENTITY_CODE_FIELDS)."""
    if value is None or value == "":
        return fmt.MISSING
    prefixes = ENTITY_CODE_FIELDS.get(entity_type or "", {}).get(field)
    if prefixes and isinstance(value, str):
        key = next((f"{p}.{value}" for p in prefixes if has_key(f"{p}.{value}")), None)
        if key:
            return translate(key, lang)
    if isinstance(value, bool):
        return translate("audit.value.yes" if value else "audit.value.no", lang)
    if field in MONEY_FIELDS and not isinstance(value, bool):
        try:
            amount = float(value)
        except (TypeError, ValueError):
            return str(value)
        return fmt.number(amount, digits=0 if amount.is_integer() else 2)
    if field in STAFF_FIELDS and isinstance(value, int):
        return staff.get(value, f"#{value}")
    if field == "roles" and isinstance(value, list):
        return "、".join(translate(f"role.{r}", lang) for r in value) if lang == "zh" \
            else ", ".join(translate(f"role.{r}", lang) for r in value)
    if field in CODE_FIELDS and isinstance(value, str):
        key = next((f"{prefix}.{value}" for prefix in CODE_FIELDS[field]
                    if has_key(f"{prefix}.{value}")), None)
        return translate(key, lang) if key else value
    if field in ENUM_FIELDS and isinstance(value, str):
        for group in ENUM_FIELDS[field]:
            if has_key(f"enum.{group}.{value}"):
                return translate(f"enum.{group}.{value}", lang)
        if has_key(f"audit.value.{value}"):
            return translate(f"audit.value.{value}", lang)
        return value
    if field == "filters" and isinstance(value, dict):
        if not value:
            return translate("audit.value.no_filters", lang)
        return "; ".join(f"{k}={value_text(k, v, lang=lang, staff=staff)}" for k, v in value.items())
    if field in ID_LIST_FIELDS and isinstance(value, list):
        return ", ".join(f"#{v}" for v in value) or fmt.MISSING
    if isinstance(value, list):
        return ("、" if lang == "zh" else ", ").join(
            value_text(field, v, lang=lang, staff=staff) for v in value)
    if isinstance(value, dict):
        # e.g. flags raised per kind: '被举报虚假车源 1，车架号被他人发布 0'
        return ("，" if lang == "zh" else ", ").join(
            f"{_key_label(k, lang)} {value_text(k, v, lang=lang, staff=staff)}"
            for k, v in value.items())
    if isinstance(value, int):
        return f"#{value}" if field.endswith("_id") else fmt.number(value)
    if isinstance(value, float):
        return fmt.number(value, digits=0 if value.is_integer() else 2)
    text = str(value)
    if _ISO_TIME.match(text):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return fmt.expiry_day(moment) if field in EXPIRY_FIELDS else fmt.when(moment)
        except ValueError:
            return text
    if _ISO_DAY.match(text):
        return text
    if field.endswith("sha256") and len(text) == 64:
        return text[:12] + "…"
    return text if len(text) <= TEXT_SHOWN else text[:TEXT_SHOWN - 1] + "…"


def changes_text(before: Any, after: Any, *, lang: str, staff: dict[int, str],
                 entity_type: str | None = None) -> str:
    """'负责人：— → 王芳；状态：审核中 → 已通过': each field once, in the order written;
    a field only in ``after`` reads 'label：value', one only in ``before`` 'label：value → —'."""
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    colon, sep = ("：", "；") if lang == "zh" else (": ", "; ")
    parts = []
    for field in list(before) + [f for f in after if f not in before]:
        if SHADOWED.get(field) in after:
            continue   # the older single field beside the list that holds it too
        label = field_label(field, lang, entity_type)
        new = value_text(field, after.get(field), lang=lang, staff=staff,
                         entity_type=entity_type)
        if field in before:
            old = value_text(field, before[field], lang=lang, staff=staff,
                             entity_type=entity_type)
            parts.append(f"{label}{colon}{old} → {new}")
        else:
            parts.append(f"{label}{colon}{new}")
    return sep.join(parts)


# ---------------------------------------------------------------- filters and rows
@dataclass(frozen=True)
class AuditFilters:
    """What the log is filtered by; empty fields filter nothing. Days are Shanghai days,
    both ends included."""

    actor_id: int | None = None
    action: str | None = None
    entity_type: str | None = None
    entity_id: Annotated[str, Text(max=40)] = ""   # entity ids are numbers or short codes
    date_from: date | None = None
    date_to: date | None = None

    def applied(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


def _where(filters: AuditFilters) -> tuple[str, dict[str, Any]]:
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise InvalidInput("audit.error.date_order")
    clauses, params = [], {}
    if filters.actor_id is not None:
        clauses.append("a.actor_id = :actor_id")
        params["actor_id"] = filters.actor_id
    if filters.action:
        clauses.append("a.action = :action")
        params["action"] = filters.action
    if filters.entity_type:
        clauses.append("a.entity_type = :entity_type")
        params["entity_type"] = filters.entity_type
    if filters.entity_id.strip():
        clauses.append("a.entity_id = :entity_id")
        params["entity_id"] = filters.entity_id.strip().lstrip("#")
    tz = business_tz()
    if filters.date_from:
        clauses.append("a.at >= :from_at")
        params["from_at"] = datetime.combine(filters.date_from, time(), tz)
    if filters.date_to:
        clauses.append("a.at < :to_at")
        params["to_at"] = datetime.combine(filters.date_to + timedelta(days=1), time(), tz)
    return (" AND ".join(clauses) or "TRUE"), params


def _staff_names(conn: Connection) -> dict[int, str]:
    return {r.id: r.display_name for r in conn.execute(sa.text(
        "SELECT id, display_name FROM ops.staff"))}


@requires(*READ_ROLES, replica=True)
def people(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Staff to filter by: id and display name, by name."""
    return db.fetch_df(conn, "SELECT id, display_name, username FROM ops.staff ORDER BY display_name, id")


@requires(*READ_ROLES, replica=True)
def count_audit(*, conn: Connection, actor: Actor, filters: AuditFilters) -> int:
    where, params = _where(filters)
    return conn.execute(sa.text(f"SELECT count(*) FROM ops.audit_log a WHERE {where}"),
                        params).scalar_one()


def _rows(conn: Connection, filters: AuditFilters, *, offset: int, limit: int,
          lang: str) -> pd.DataFrame:
    where, params = _where(filters)
    raw = conn.execute(sa.text(
        f"""SELECT a.id, a.at, a.actor_id, a.action, a.entity_type, a.entity_id,
                   a.before, a.after, a.reason
            FROM ops.audit_log a WHERE {where}
            ORDER BY a.id DESC OFFSET :offset LIMIT :limit"""),
        {**params, "offset": offset, "limit": limit}).mappings().all()
    staff = _staff_names(conn)
    merchant_ids = sorted({int(r["entity_id"]) for r in raw
                           if r["entity_type"] == "merchant" and r["entity_id"].isdigit()})
    merchants = {m.id: m.name for m in conn.execute(sa.text(
        "SELECT id, name FROM app.merchants WHERE id = ANY(:ids)"), {"ids": merchant_ids})
    } if merchant_ids else {}
    system = translate("audit.system", lang)
    rows = [{
        "id": r["id"],
        "at": fmt.when(r["at"]),
        "actor": system if r["actor_id"] is None else staff.get(r["actor_id"], f"#{r['actor_id']}"),
        "action": action_label(r["action"], lang),
        "record": _record(r["entity_type"], r["entity_id"], lang=lang, staff=staff,
                          merchants=merchants),
        "changes": changes_text(r["before"], r["after"], lang=lang, staff=staff,
                                entity_type=r["entity_type"]) or fmt.MISSING,
        "reason": r["reason"] or fmt.MISSING,
    } for r in raw]
    return pd.DataFrame(rows, columns=["id", "at", "actor", "action", "record", "changes", "reason"])


def _record(entity_type: str, entity_id: str, *, lang: str, staff: dict[int, str],
            merchants: dict[int, str]) -> str:
    """'员工账号 #3 李娜', '商户 #12 京四汽车', '交易卡片 #433'."""
    text = f"{entity_label(entity_type, lang)} #{entity_id}"
    names = {"staff": staff, "merchant": merchants}.get(entity_type)
    if names is not None and entity_id.isdigit() and int(entity_id) in names:
        text += f" {names[int(entity_id)]}"
    return text


@requires(*READ_ROLES, replica=True)
def search_audit(*, conn: Connection, actor: Actor, filters: AuditFilters, offset: int = 0,
                 limit: int = 50, lang: Lang = "zh") -> pd.DataFrame:
    """One page of the log, newest written first (the primary key: no sort of a million
    rows), every cell in words (columns id, at, actor,
    action, record, changes, reason)."""
    return _rows(conn, filters, offset=offset, limit=limit, lang=lang)


@requires(*READ_ROLES)
def export_audit(*, conn: Connection, actor: Actor, filters: AuditFilters,
                 lang: Lang = "zh") -> bytes:
    """The filtered log as CSV, as the page words it (neutralised), with an audit row of
    the export itself; refused above EXPORT_MAX_ROWS rows."""
    total = count_audit(conn=conn, actor=actor, filters=filters)
    if total > EXPORT_MAX_ROWS:
        raise InvalidInput("audit.error.export_too_large", n=fmt.number(total),
                           max=fmt.number(EXPORT_MAX_ROWS))
    rows = _rows(conn, filters, offset=0, limit=EXPORT_MAX_ROWS, lang=lang)
    applied = filters.applied()
    frame = rows.rename(columns={c: translate(f"audit.col.{c}", lang) for c in rows.columns})
    preamble = [[f"# {translate('audit.export.by', lang)}={actor.display_name}",
                 f"{translate('audit.export.rows', lang)}={len(rows)}"],
                ["# filters"] + [f"{k}={v}" for k, v in applied.items()]]
    return audited_csv(conn=conn, actor=actor, export="audit_log", filters=applied,
                       frame=frame, preamble=preamble, action="audit.export",
                       entity_type="audit_log")


# ---------------------------------------------------------------- the chain, on request
@requires(*READ_ROLES)
def verify_now(*, conn: Connection, actor: Actor) -> ChainReport:
    """Recompute the whole chain now (seconds at a million rows) and record the result as
    an audit row, so the page shows the last verification without redoing it."""
    report = verify_chain(conn)
    broken = None if report.broken is None else asdict(report.broken)
    write_audit(conn=conn, actor_id=actor.id, action="audit.verify",
                entity_type=CHAIN_ENTITY[0], entity_id=CHAIN_ENTITY[1],
                after={"intact": report.intact, "rows": report.rows, "links": report.links,
                       "head_hash": report.head_hash, "broken": broken})
    return report


@dataclass(frozen=True)
class Verification:
    report: ChainReport
    by: str               # who ran it


@requires(*READ_ROLES)
def last_verification(*, conn: Connection, actor: Actor) -> Verification | None:
    """The newest recorded verification (one index look-up), or None when never run."""
    row = conn.execute(sa.text(
        """SELECT a.at, a.after, s.display_name
           FROM ops.audit_log a LEFT JOIN ops.staff s ON s.id = a.actor_id
           WHERE a.entity_type = :etype AND a.entity_id = :eid AND a.action = 'audit.verify'
           ORDER BY a.at DESC, a.id DESC LIMIT 1"""),
        {"etype": CHAIN_ENTITY[0], "eid": CHAIN_ENTITY[1]}).mappings().first()
    if row is None:
        return None
    after = row["after"]
    broken = ChainBreak(**after["broken"]) if after.get("broken") else None
    report = ChainReport(rows=after["rows"], links=after["links"], head_hash=after["head_hash"],
                         verified_at=row["at"], broken=broken)
    return Verification(report=report, by=row["display_name"] or "")


@requires(*READ_ROLES)
def chain_status(*, conn: Connection, actor: Actor) -> ChainReport:
    """Whether the audit log is intact, recomputed now, or where it first breaks
    (read-only: the command line and tests; the page uses verify_now)."""
    return verify_chain(conn)
