"""The demo's import documents (issue 21): the four documents of each live parallel-import
listing that has its import details (an app.listing_imports row), in every state the review
meets, so the document queue (/import-docs) and the listings' panels have something to show.

Per listing, one of four stories (shares of the live imports):

- ``COMPLETE`` (70%): the four kinds uploaded some hours after publication (exponential,
  mean ``UPLOAD_HOURS``) and approved after a review (exponential, mean ``REVIEW_HOURS``);
- ``PENDING`` (18%): one to four kinds still waiting, uploaded within the last
  ``PENDING_WINDOW_HOURS`` (so the queue's SLA marks, at the default 24 hours, show ok, warn
  and late), the others approved;
- ``INCOMPLETE`` (12%): one or two kinds missing — never uploaded, or rejected and not yet
  uploaded again — the others approved or waiting;
- and across them, ``REUPLOAD_SHARE`` (8%) of the documents in place had an earlier upload
  rejected (with a reason) and were uploaded again a day or so later.

A document whose review would end after now is still pending. A fifth of the pending
documents are in an ops person's hands (at most ``HELD_MAX`` each, under the review cap),
the rest unassigned. References look like the real numbers (the customs declaration's
18 digits from the port's customs code, the inspection certificate's 15 from the port's
inspection office, a China 6 disclosure number, a 16-digit conformity certificate); reasons
are what a reviewer writes.

Rows are written by SQL (COPY), as the logistics demo does: the service stamps now() on every
decision, so history cannot be made through it. No audit rows (the audit log stamps its own
time and is hash-chained). Only listings without any document yet are written, so a second
run adds nothing. Deterministic by seed (its own random stream) for a given ``now``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import sqlalchemy as sa

from console import clock, db
from console.demo.writer import copy_frame
from console.imports.status import DOC_KINDS

STREAM = 10921                # migration 109, issue 21: nothing else's random stream moves
COMPLETE, PENDING, INCOMPLETE = 0.70, 0.18, 0.12
UPLOAD_HOURS = 8.0
REVIEW_HOURS = 10.0
REUPLOAD_HOURS = 30.0
PENDING_WINDOW_HOURS = 72.0
REUPLOAD_SHARE = 0.08
HELD_SHARE = 0.2
HELD_MAX = 3
# The ports' customs district (关区) and inspection office codes the references start with.
CUSTOMS_CODE = {"tianjin": "0202", "shanghai": "2248", "shenzhen": "5349", "guangzhou": "5146",
                "dalian": "0908", "qingdao": "4227"}
INSPECTION_CODE = {"tianjin": "120000", "shanghai": "310000", "shenzhen": "440300",
                   "guangzhou": "440100", "dalian": "210200", "qingdao": "370200"}
APPROVE_REASONS = {
    "customs": ("关单号、车架号与进口日期核对一致", "关单信息与车辆一致，已核对海关编号"),
    "inspection": ("商检单车架号、车型与车源一致", "入境货物检验检疫证明核对无误"),
    "env_disclosure": ("已在机动车环保信息公开平台查到，国六排放", "环保信息公开编号与车型一致"),
    "conformity": ("一致性证书车型、发动机号与车辆一致", "CCC 一致性证书核对无误"),
}
REJECT_REASONS = ("扫描件模糊，编号无法辨认，请重新上传清晰版本", "单证上的车架号与车源车架号不一致",
                  "上传的是其他车辆的单证", "单证缺页，请上传完整版本", "单证信息与车型版本不符")
COLUMNS = ["listing_id", "doc_kind", "doc_ref", "uploaded_at", "status", "assigned_to",
           "assigned_at", "decided_by", "decided_at", "decision_reason"]

_LISTINGS = """
    SELECT l.id, l.published_at, li.port
    FROM app.listings l JOIN app.listing_imports li ON li.listing_id = l.id
    WHERE l.is_parallel_import AND l.status = 'live'
      AND NOT EXISTS (SELECT 1 FROM app.import_documents d WHERE d.listing_id = l.id)
    ORDER BY l.id"""


@dataclass
class Summary:
    listings: int = 0
    documents: int = 0
    pending: int = 0
    rejected: int = 0


class _Story:
    """One seed's drawing: the random stream, the clock, the reviewers and their loads."""

    def __init__(self, rng: np.random.Generator, now: datetime, reviewers: list[int]) -> None:
        self.rng, self.now, self.reviewers = rng, now, reviewers
        self.held = {r: 0 for r in reviewers}
        self.rows: list[dict] = []

    def hours(self, mean: float) -> timedelta:
        return timedelta(hours=float(self.rng.exponential(mean)) + 0.1)

    def ref(self, kind: str, port: str, at: datetime) -> str:
        serial = int(self.rng.integers(10**8, 10**9))
        if kind == "customs":
            return f"{CUSTOMS_CODE[port]}{at.year}{serial}{int(self.rng.integers(0, 10))}"
        if kind == "inspection":
            return f"{INSPECTION_CODE[port]}{at.year % 100:02d}{serial % 10**7:07d}"
        if kind == "env_disclosure":
            return f"CN GB6 {at.year} {serial:09d}"
        return f"{at.year}0111{serial % 10**8:08d}"

    def decided(self, listing_id: int, kind: str, port: str, uploaded: datetime, *,
                rejected: bool) -> datetime | None:
        """An upload and its decision; returns when it was decided, or None (then it is
        pending: its review would end after now)."""
        at = uploaded + self.hours(REVIEW_HOURS)
        if at >= self.now:
            self.pending(listing_id, kind, port, uploaded)
            return None
        who = int(self.rng.choice(self.reviewers))
        reasons = REJECT_REASONS if rejected else APPROVE_REASONS[kind]
        self.rows.append({
            "listing_id": listing_id, "doc_kind": kind, "doc_ref": self.ref(kind, port, uploaded),
            "uploaded_at": uploaded, "status": "rejected" if rejected else "approved",
            "assigned_to": who, "assigned_at": uploaded + (at - uploaded) / 2,
            "decided_by": who, "decided_at": at,
            "decision_reason": reasons[int(self.rng.integers(0, len(reasons)))]})
        return at

    def pending(self, listing_id: int, kind: str, port: str, uploaded: datetime) -> None:
        holder = None
        if self.rng.random() < HELD_SHARE:
            free = [r for r in self.reviewers if self.held[r] < HELD_MAX]
            if free:
                holder = int(self.rng.choice(free))
                self.held[holder] += 1
        self.rows.append({
            "listing_id": listing_id, "doc_kind": kind, "doc_ref": self.ref(kind, port, uploaded),
            "uploaded_at": uploaded, "status": "pending", "assigned_to": holder,
            "assigned_at": None if holder is None else uploaded + (self.now - uploaded) / 2,
            "decided_by": None, "decided_at": None, "decision_reason": None})

    def kind(self, listing_id: int, kind: str, port: str, published: datetime,
             fate: str) -> None:
        """One kind's uploads; ``fate``: 'approved', 'pending', 'rejected' (and not uploaded
        again) or 'missing' (never uploaded)."""
        if fate == "missing":
            return
        # Uploaded after publication and before now (a listing just published: right away).
        latest = max(published, self.now - timedelta(minutes=5))
        uploaded = min(published + self.hours(UPLOAD_HOURS), latest)
        if fate == "rejected":
            self.decided(listing_id, kind, port, uploaded, rejected=True)
            return
        if self.rng.random() < REUPLOAD_SHARE:        # an earlier upload was turned down
            rejected_at = self.decided(listing_id, kind, port, uploaded, rejected=True)
            if rejected_at is None:                   # that one is still waiting
                return
            uploaded = min(rejected_at + self.hours(REUPLOAD_HOURS), latest)
            if uploaded <= rejected_at:               # turned down just now: not again yet
                return
        if fate == "pending":
            recent = self.now - timedelta(hours=float(self.rng.uniform(0.2, PENDING_WINDOW_HOURS)))
            self.pending(listing_id, kind, port, max(recent, uploaded))
        else:
            self.decided(listing_id, kind, port, uploaded, rejected=False)

    def listing(self, listing_id: int, port: str, published: datetime) -> None:
        fates = ["approved"] * len(DOC_KINDS)
        story = self.rng.random()
        if story < PENDING:
            for i in self.rng.choice(len(DOC_KINDS), int(self.rng.integers(1, 5)), replace=False):
                fates[i] = "pending"
        elif story < PENDING + INCOMPLETE:
            for i in self.rng.choice(len(DOC_KINDS), int(self.rng.integers(1, 3)), replace=False):
                fates[i] = "missing" if self.rng.random() < 0.5 else "rejected"
        for kind, fate in zip(DOC_KINDS, fates):
            self.kind(listing_id, kind, port, published, fate)


def _utc(value: datetime | None) -> str | None:
    return None if value is None or pd.isna(value) else value.astimezone(timezone.utc).isoformat()


def write(conn: sa.Connection, *, seed: int, now: datetime | None = None) -> Summary:
    """Documents for the live parallel imports with import details and no document yet;
    returns what was written."""
    now = now or clock.now()
    listings = db.fetch_all(conn, _LISTINGS)
    reviewers = [r["id"] for r in db.fetch_all(conn, """
        SELECT id FROM ops.staff WHERE is_active AND 'ops' = ANY (roles) ORDER BY id""")]
    if not listings or not reviewers:
        return Summary()
    story = _Story(np.random.default_rng([seed, STREAM]), now, reviewers)
    for row in db.fetch_all(conn, """
            SELECT assigned_to, count(*) AS n FROM app.import_documents
            WHERE status = 'pending' AND assigned_to IS NOT NULL GROUP BY assigned_to"""):
        if row["assigned_to"] in story.held:
            story.held[row["assigned_to"]] = int(row["n"])
    for row in listings:
        story.listing(row["id"], row["port"], min(row["published_at"], now))
    frame = pd.DataFrame(story.rows, columns=COLUMNS)
    for column in ("uploaded_at", "assigned_at", "decided_at"):
        frame[column] = frame[column].map(_utc).astype(object)
    for column in ("assigned_to", "decided_by"):
        frame[column] = frame[column].map(lambda v: None if v is None or pd.isna(v)
                                          else str(int(v))).astype(object)
    copy_frame(conn.connection.dbapi_connection.cursor(), "app.import_documents", COLUMNS, frame)
    return Summary(listings=len(listings), documents=len(frame),
                   pending=int((frame["status"] == "pending").sum()),
                   rejected=int((frame["status"] == "rejected").sum()))
