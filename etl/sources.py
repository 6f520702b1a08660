"""The source tables the jobs read, how each one is extracted incrementally, and the
checks every batch of it must pass.

Watermarks: every source is extracted by ``updated_at``, which the database stamps on every
write (migration 064), from the change horizon of the previous run (``etl/horizon.py``): no
row committed late, whatever its id or business times, falls below it. ``--since`` reprocesses
by a business time where the change time would not serve (an event's ``occurred_at``).
"""
from __future__ import annotations

from dataclasses import dataclass

from etl import checks as ck
from etl.checks import Check


@dataclass(frozen=True)
class Source:
    table: str                                # e.g. "app.listings"
    # What ``--since TS`` compares with TS (SQL over the table's columns, alias-free).
    since_expr: str = "updated_at"

    @property
    def short(self) -> str:
        return self.table.split(".", 1)[1]

    @property
    def change_expr(self) -> str:
        """The row's change time, kept by the database (migration 064)."""
        return "updated_at"


SOURCES: dict[str, Source] = {s.table: s for s in (
    Source("app.merchants"),
    Source("app.certifications"),
    Source("app.listings"),
    Source("app.requests"),
    Source("ops.matches"),
    Source("app.orders"),
    Source("app.payments"),
    # Append-only: rows written before migration 064 all read its time as their updated_at.
    Source("app.events", "occurred_at"),
    Source("app.reviews", "created_at"),
    Source("app.disputes"),
    Source("app.loan_applications"),
    # Order loans (issue 19): the accrual's default_at is the scorecard's loan outcome.
    Source("fin.loans"),
    Source("ops.listing_flags"),
    Source("ops.contact_log", "created_at"),
)}

EVENT_TYPES = ('registered', 'login', 'cert_submitted', 'cert_approved', 'cert_rejected',
               'listing_created', 'request_created', 'bid_placed', 'match_created',
               'deposit_paid', 'deal_completed', 'order_cancelled', 'review_posted',
               'dispute_raised')


def standard_checks(table: str) -> list[Check]:
    """What every batch of ``table`` must satisfy, whichever job reads it."""
    m = "app.merchants"
    specs: dict[str, list[Check]] = {
        "app.merchants": [
            ck.in_set(m, "merchant_type", ("4s", "secondary", "resource", "parallel_import")),
            ck.in_set(m, "channel", ("bd_visit", "referral", "organic", "ad", "event", "partner")),
            ck.in_set(m, "cert_level", ("none", "personal", "enterprise")),
            ck.not_future(m, "registered_at"),
            ck.fk(m, "city_id", "app.cities"),
            ck.row_count_drop(m),
        ],
        "app.certifications": [
            ck.in_set(table, "status", ("pending", "in_review", "needs_info", "approved", "rejected")),
            ck.not_future(table, "submitted_at"),
            ck.fk(table, "merchant_id", m),
        ],
        "app.listings": [
            ck.in_set(table, "status", ("live", "sold", "withdrawn", "taken_down", "expired")),
            ck.non_negative(table, "price"),
            ck.price_band(table),
            ck.not_future(table, "published_at"),
            ck.fk(table, "merchant_id", m),
            ck.fk(table, "trim_id", "app.trims"),
            ck.row_count_drop(table),
        ],
        "app.requests": [
            ck.in_set(table, "status", ("open", "matched", "closed", "cancelled", "expired")),
            ck.non_negative(table, "max_price"),
            ck.not_future(table, "created_at"),
            ck.fk(table, "merchant_id", m),
            ck.fk(table, "series_id", "app.series"),
        ],
        "ops.matches": [
            ck.in_set(table, "stage", ("suggested", "contacted", "negotiating", "deposit_paid",
                                       "won", "lost")),
            ck.non_negative(table, "deal_value"),
            ck.not_future(table, "created_at"),
            ck.fk(table, "request_id", "app.requests"),
            ck.fk(table, "listing_id", "app.listings"),
        ],
        "app.orders": [
            ck.in_set(table, "status", ("created", "deposit_paid", "completed", "cancelled", "disputed")),
            ck.in_set(table, "escrow_state", ("none", "held", "released", "refunded", "disputed")),
            ck.non_negative(table, "amount"),
            ck.non_negative(table, "deposit_amount"),
            ck.non_negative(table, "fee_amount"),
            ck.not_future(table, "created_at"),
            ck.fk(table, "buyer_id", m),
            ck.fk(table, "seller_id", m),
            ck.row_count_drop(table),
        ],
        "app.payments": [
            ck.in_set(table, "channel", ("wechat", "alipay", "bank")),
            ck.in_set(table, "kind", ("deposit", "balance", "refund", "release", "fee")),
            ck.non_negative(table, "amount"),
            ck.not_future(table, "created_at"),
            ck.fk(table, "order_id", "app.orders"),
        ],
        "app.events": [
            ck.in_set(table, "event_type", EVENT_TYPES),
            ck.not_future(table, "occurred_at"),
            ck.fk(table, "merchant_id", m),
        ],
        "app.reviews": [
            ck.in_set(table, "stars", (1, 2, 3, 4, 5)),
            ck.not_future(table, "created_at"),
            ck.fk(table, "target_merchant_id", m),
        ],
        "app.disputes": [
            ck.in_set(table, "outcome", ("raiser_won", "against_won", "settled")),
            ck.not_future(table, "created_at"),
            ck.fk(table, "order_id", "app.orders"),
        ],
        "app.loan_applications": [
            ck.in_set(table, "status", ("applied", "approved", "rejected", "repaid", "defaulted")),
            ck.non_negative(table, "amount"),
            ck.fk(table, "merchant_id", m),
        ],
        "fin.loans": [
            ck.in_set(table, "status", ("applied", "approved", "rejected", "cancelled",
                                        "disbursed", "repaid")),
            ck.non_negative(table, "principal"),
            ck.fk(table, "merchant_id", m),
        ],
        "ops.listing_flags": [
            ck.in_set(table, "status", ("pending", "in_review", "confirmed", "cleared", "superseded")),
            ck.fk(table, "listing_id", "app.listings"),
        ],
        "ops.contact_log": [
            ck.not_future(table, "created_at"),
            ck.fk(table, "merchant_id", m),
        ],
    }
    return [*ck.key_checks(table), *specs[table]]
