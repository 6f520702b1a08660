"""Stored validation reports (migration 093): what a computation of the report found, per
scorecard version, with the data and the code it was computed on, so the validation page
reads a report instead of rebuilding seven point-in-time samples on every view.

A report goes to JSON and back without losing a bit: floats as Python writes them (the
shortest text that reads back as the same double; jsonb keeps the digits as written), NaN
(an empty grade's rate) as null, tables with their column types. ``decode(encode(r)) == r``
field by field, which tests/test_credit_validation_store.py holds on the demo data.

Freshness: a stored report is stale when the data has moved past the day it was computed to
(its ``data_end``: the day after the newest event, so a new day of events), when it is older
than ``credit_validation_max_age_hours``, or when the validation code or the version's
configuration differ from what it ran (``reasons``). A scoring run alone does not make it
stale: the report rebuilds its own point-in-time samples and never reads a run's scores, and
the jobs score every 15 minutes, which would recompute it (12 s at large scale) every cycle.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

from console import db
from console.clock import business_tz
from console.credit.pit import SamplePlan
from console.credit.validation import InTheLarge, Performance, ValidationReport

ROOT = Path(__file__).resolve().parents[2]
# What the figures depend on besides the data and the version: a change to any of these
# files makes every stored report stale (the "code hash").
CODE_FILES = ("console/credit/validation.py", "console/credit/pit.py",
              "console/credit/metrics.py", "console/credit/scorecard.py",
              "console/credit/validation_store.py", "sql/queries/credit_features_as_of.sql")
# pg_try_advisory_xact_lock(LOCK_NAMESPACE, version id): one computation of a version's
# report at a time, whoever asks (the scheduled step, the command, a risk officer).
LOCK_NAMESPACE = 7_310_093


@lru_cache(maxsize=1)
def code_sha256() -> str:
    digest = hashlib.sha256()
    for name in CODE_FILES:
        digest.update(name.encode())
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- JSON, both ways
def _num(value: Any) -> float | int | None:
    """A float for JSON: NaN as null; ±inf as ±1e999 is not JSON either, so as a string."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    x = float(value)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"          # type: ignore[return-value]
    return x


def _float(value: Any) -> float:
    if value is None:
        return float("nan")
    return float(value)                             # "inf" / "-inf" read back too


def _pair(value: Any) -> tuple[float, float]:
    return (_float(value[0]), _float(value[1]))


def _frame_out(frame: pd.DataFrame) -> dict[str, Any]:
    dtypes = [str(t) for t in frame.dtypes]
    rows = [[_num(v) if t not in ("object", "str", "string") else v
             for v, t in zip(row, dtypes)] for row in frame.itertuples(index=False, name=None)]
    return {"columns": list(frame.columns), "dtypes": dtypes, "rows": rows}


def _frame_in(data: dict[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame(data["rows"], columns=data["columns"])
    if frame.empty:
        frame = pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(data["columns"], data["dtypes"])})
        return frame
    for column, dtype in zip(data["columns"], data["dtypes"]):
        if dtype.startswith("float"):       # null is NaN, "inf" is inf
            frame[column] = pd.to_numeric(frame[column].astype(object)).astype(dtype)
        elif dtype.startswith(("int", "bool")):
            frame[column] = frame[column].astype(dtype)
    return frame


def _performance_out(p: Performance) -> dict[str, Any]:
    return {"rows": int(p.rows), "bad": int(p.bad), "auc": _num(p.auc),
            "auc_ci": [_num(x) for x in p.auc_ci], "gini": _num(p.gini),
            "gini_ci": [_num(x) for x in p.gini_ci], "ks": _num(p.ks),
            "ks_ci": [_num(x) for x in p.ks_ci]}


def _performance_in(d: dict[str, Any]) -> Performance:
    return Performance(int(d["rows"]), int(d["bad"]), _float(d["auc"]), _pair(d["auc_ci"]),
                       _float(d["gini"]), _pair(d["gini_ci"]), _float(d["ks"]), _pair(d["ks_ci"]))


def encode(report: ValidationReport) -> dict[str, Any]:
    """The report as JSON-ready values (its plan is stored in the row's own columns)."""
    o = report.overall
    return {"version": report.version,
            "development": _performance_out(report.development),
            "out_of_time": _performance_out(report.out_of_time),
            "by_grade": _frame_out(report.by_grade),
            "hl_stat": _num(report.hl_stat), "hl_df": int(report.hl_df), "hl_p": _num(report.hl_p),
            "score_psi": _num(report.score_psi), "score_psi_level": report.score_psi_level,
            "factors": _frame_out(report.factors), "leak_alarms": list(report.leak_alarms),
            "calibrated": bool(report.calibrated),
            "overall": None if o is None else {
                "rows": int(o.rows), "bad": int(o.bad), "observed": _num(o.observed),
                "promised": _num(o.promised), "binomial_p": _num(o.binomial_p)}}


def decode(data: dict[str, Any], plan: SamplePlan) -> ValidationReport:
    o = data.get("overall")
    return ValidationReport(
        version=data["version"], plan=plan,
        development=_performance_in(data["development"]),
        out_of_time=_performance_in(data["out_of_time"]),
        by_grade=_frame_in(data["by_grade"]),
        hl_stat=_float(data["hl_stat"]), hl_df=int(data["hl_df"]), hl_p=_float(data["hl_p"]),
        score_psi=_float(data["score_psi"]), score_psi_level=data["score_psi_level"],
        factors=_frame_in(data["factors"]), leak_alarms=list(data["leak_alarms"]),
        calibrated=bool(data["calibrated"]),
        overall=None if o is None else InTheLarge(int(o["rows"]), int(o["bad"]),
                                                  _float(o["observed"]), _float(o["promised"]),
                                                  _float(o["binomial_p"])))


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


# ---------------------------------------------------------------- rows
@dataclass(frozen=True)
class Computed:
    """One version's report as one computation found it, ready to store."""
    version_id: int
    config_sha256: str
    report: ValidationReport | None
    unrebuilt: list[str] = field(default_factory=list)


def try_lock_versions(conn: Connection, version_ids: list[int]) -> bool:
    """Take every version's computation lock for the caller's transaction, in id order (two
    callers never wait on each other in a cycle); False when another holds any of them."""
    for version_id in sorted(set(version_ids)):
        if not db.scalar(conn, "SELECT pg_try_advisory_xact_lock(:ns, :v)",
                         ns=LOCK_NAMESPACE, v=int(version_id)):
            return False
    return True


def store(conn: Connection, *, plan: SamplePlan, data_end: date, computed: list[Computed],
          events_watermark: datetime | None, run_id: int | None, seconds: float,
          requested_by: int | None) -> list[int]:
    """One row per version of one computation (same samples, same moment); their ids."""
    ids = []
    for item in computed:
        ids.append(int(db.scalar(conn, """
            INSERT INTO ops.credit_validation_reports
                (version_id, config_sha256, code_sha256, data_end, window_days,
                 development_dates, out_of_time_date, events_watermark, run_id, seconds,
                 requested_by, report, unrebuilt_factors)
            VALUES (:v, :sha, :code, :end, :window, CAST(:dev AS date[]), :oot, :events, :run,
                    :seconds, :by, CAST(:report AS jsonb), CAST(:unrebuilt AS text[]))
            RETURNING id""",
            v=item.version_id, sha=item.config_sha256, code=code_sha256(), end=data_end,
            window=plan.window_days, dev=list(plan.development), oot=plan.out_of_time,
            events=events_watermark, run=run_id, seconds=float(seconds), by=requested_by,
            report=None if item.report is None else to_json(encode(item.report)),
            unrebuilt=list(item.unrebuilt))))
    return ids


@dataclass(frozen=True)
class Stored:
    """A version's newest stored report and how fresh it is."""
    id: int
    version_id: int
    plan: SamplePlan
    data_end: date
    events_watermark: datetime | None
    run_id: int | None
    computed_at: datetime
    seconds: float
    requested_by: str | None
    report: ValidationReport | None
    unrebuilt: list[str]
    reasons: tuple[str, ...]          # why stale: newer_data, age, code, version; () = current

    @property
    def stale(self) -> bool:
        return bool(self.reasons)

    @property
    def sample_key(self) -> tuple:
        """Reports with the same key were computed on the same samples (comparable)."""
        return (self.plan, self.data_end, self.events_watermark)


def latest_run_id(conn: Connection) -> int | None:
    return db.scalar(conn, "SELECT max(id) FROM ops.credit_runs WHERE status = 'succeeded'")


def latest(conn: Connection, *, version_ids: list[int], max_age_hours: float,
           now: datetime, names: bool = True) -> dict[int, Stored]:
    """Each version's newest stored report (versions without one are absent); ``names``:
    with the name of who asked for it (the jobs' role reads no staff accounts)."""
    if not version_ids:
        return {}
    who = ("(SELECT s.display_name FROM ops.staff s WHERE s.id = r.requested_by)"
           if names else "CAST(NULL AS text)")
    rows = db.fetch_all(conn, f"""
        SELECT r.*, v.config_sha256 AS current_sha, {who} AS requested_by_name
        FROM unnest(CAST(:ids AS integer[])) AS w(version_id)
        JOIN ops.credit_scorecard_versions v ON v.id = w.version_id
        CROSS JOIN LATERAL (
            SELECT * FROM ops.credit_validation_reports c
            WHERE c.version_id = w.version_id
            ORDER BY c.computed_at DESC, c.id DESC LIMIT 1) r""", ids=[int(v) for v in version_ids])
    from console.credit.validation import data_end
    last_event = db.scalar(conn, "SELECT mart.cn_date(max(occurred_at)) FROM app.events")
    current_end = data_end(last_event, now.astimezone(business_tz()).date())
    out = {}
    for row in rows:
        plan = SamplePlan(tuple(row["development_dates"]), row["out_of_time_date"],
                          int(row["window_days"]))
        reasons = []
        if row["data_end"] < current_end:
            reasons.append("newer_data")
        if now - row["computed_at"] > timedelta(hours=max_age_hours):
            reasons.append("age")
        if row["code_sha256"] != code_sha256():
            reasons.append("code")
        if row["config_sha256"] != row["current_sha"]:
            reasons.append("version")
        report = None if row["report"] is None else decode(row["report"], plan)
        out[int(row["version_id"])] = Stored(
            int(row["id"]), int(row["version_id"]), plan, row["data_end"],
            row["events_watermark"], row["run_id"], row["computed_at"], float(row["seconds"]),
            row["requested_by_name"], report, list(row["unrebuilt_factors"] or []),
            tuple(reasons))
    return out
