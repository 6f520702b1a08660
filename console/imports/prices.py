"""The price reference of a parallel import (平行进口车参考价).

A parallel import has no Chinese guide price: the guide price its listing carries is the
domestic trim's, which says nothing about a Gulf-spec Land Cruiser. Its reference is the
median unit price of

- the deals of the last ``import_price_window_days`` days (app.orders at deposit_paid or
  completed, dated by completion, else by the deposit) on parallel-import listings, and
- the live parallel-import listings,

of the same trim (车型) and market version, the listing itself left out (its own asking price
and its own deals would vouch for themselves). With fewer than ``import_price_min_count``
prices there is no reference (None, with the reason and the count found): a median of two
says little. Both numbers are settings (README "Parallel imports").

One definition of the prices (``_samples``, SQL) for every reader: one listing's reference
(``listing_reference``: the listing review page) takes their median in SQL; many at once
(``references_of``: a page of search results, and the authenticity scan's rule "far below
the usual price" in console/services/listing_review.py, which judges imports by it instead
of by a discount off the guide price) read their trims' prices in one statement and take
each median in Python, the same way (``median``), as one lateral read per listing was too
slow at the large scale.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.engine import Connection

from console import db
from console.settings import get_settings

# Why a listing has no reference: not a parallel import, no market version recorded yet
# (app.listing_imports), or too few prices of its trim and version in the window.
NO_REFERENCE = ("not_import", "no_version", "too_few")


def window_days() -> int:
    return int(get_settings().import_price_window_days)


def min_count() -> int:
    return int(get_settings().import_price_min_count)


def _samples(where: str) -> str:
    """Every price a reference may rest on, one row each (trim_id, market_version,
    listing_id, price, is_deal), of the imports meeting ``where`` (a condition over the
    listing sl and its details si); ``:window_days`` is bound by the caller. Served by
    migration 112's indexes: imports by trim, deals by listing."""
    return f"""
        SELECT sl.trim_id, si.market_version, sl.id AS listing_id, o.unit_price AS price,
               true AS is_deal
        FROM app.listings sl
        JOIN app.listing_imports si ON si.listing_id = sl.id
        JOIN app.orders o ON o.listing_id = sl.id
        WHERE sl.is_parallel_import AND {where}
          AND o.status IN ('deposit_paid', 'completed')
          AND coalesce(o.completed_at, o.deposit_paid_at, o.created_at)
              >= now() - make_interval(days => :window_days)
        UNION ALL
        SELECT sl.trim_id, si.market_version, sl.id, sl.price, false
        FROM app.listings sl
        JOIN app.listing_imports si ON si.listing_id = sl.id
        WHERE sl.is_parallel_import AND sl.status = 'live' AND {where}"""


def samples_sql(*, trim: str, market: str, exclude: str) -> str:
    """The prices one reference rests on, for the trim, market version and excluded listing
    given as SQL expressions (bound parameters or columns of an outer query)."""
    return _samples(f"sl.trim_id = {trim} AND si.market_version = {market} "
                    f"AND sl.id <> {exclude}")


def reference_sql(*, trim: str, market: str, exclude: str) -> str:
    """One row: the median (to the fen; NULL without prices), how many prices, of them deals.
    percentile_cont: the middle price of an odd count, the mean of the two middle ones of an
    even count."""
    return f"""
        SELECT round(CAST(percentile_cont(0.5) WITHIN GROUP (ORDER BY s.price) AS numeric), 2)
                   AS median,
               count(*) AS n, count(*) FILTER (WHERE s.is_deal) AS deals
        FROM ({samples_sql(trim=trim, market=market, exclude=exclude)}) s"""


@dataclass(frozen=True)
class PriceReference:
    """A parallel import's price reference: ``median`` (yuan) resting on ``count`` prices
    (``deals`` of them deals, the rest live listings) of its trim and ``market_version``
    over ``window_days``; or ``median`` None with ``reason`` (NO_REFERENCE)."""

    median: Decimal | None
    count: int
    deals: int
    window_days: int
    min_count: int
    market_version: str | None = None
    reason: str | None = None

    @property
    def listings(self) -> int:
        return self.count - self.deals

    def below_points(self, price: Decimal | float | None) -> float | None:
        """How far ``price`` is below the reference, in points (negative: above it)."""
        if self.median is None or price is None or self.median <= 0:
            return None
        return round(float((self.median - Decimal(str(price))) / self.median * 100), 1)


def median(prices: Sequence[Decimal]) -> Decimal:
    """percentile_cont(0.5) to the fen, as reference_sql: the middle price of an odd count,
    the mean of the two middle ones of an even count."""
    ordered = sorted(Decimal(p) for p in prices)
    half = len(ordered) // 2
    middle = ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2
    return middle.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def references_of(conn: Connection, *,
                  listings: Sequence[tuple[int, int, str | None]]) -> dict[int, PriceReference]:
    """The references of many import listings, given as (listing id, trim id, market
    version), from one read of their trims' prices (a page of search results: one lateral
    read per row cost 3 ms each at the large scale). Each leaves its own listing out, as
    listing_reference; a listing without a market version gets none."""
    wanted = [(i, t, m) for i, t, m in listings if m is not None]
    if not wanted:
        return {}
    days, least = window_days(), min_count()
    pairs: dict[tuple[int, str], list] = defaultdict(list)
    for row in db.fetch_all(conn, _samples("sl.trim_id = ANY(CAST(:trims AS integer[]))"),
                            trims=sorted({t for _, t, _ in wanted}), window_days=days):
        pairs[(row["trim_id"], row["market_version"])].append(
            (row["listing_id"], row["price"], row["is_deal"]))
    out: dict[int, PriceReference] = {}
    for listing_id, trim_id, market in wanted:
        found = [(p, d) for other, p, d in pairs[(trim_id, market)] if other != listing_id]
        n, deals = len(found), sum(1 for _, d in found if d)
        out[listing_id] = (
            PriceReference(median([p for p, _ in found]), n, deals, days, least, market)
            if n >= least else PriceReference(None, n, deals, days, least, market, "too_few"))
    return out


_LISTING = """SELECT l.id, l.trim_id, l.is_parallel_import, li.market_version
              FROM app.listings l LEFT JOIN app.listing_imports li ON li.listing_id = l.id
              WHERE l.id = :id"""


def reference_for(conn: Connection, *, trim_id: int, market_version: str,
                  exclude_listing_id: int | None = None) -> PriceReference:
    """The reference of a trim and market version (module doc), leaving one listing out."""
    days, least = window_days(), min_count()
    row = db.fetch_one(conn, reference_sql(trim=":trim", market=":market", exclude=":exclude"),
                       trim=trim_id, market=market_version,
                       exclude=exclude_listing_id if exclude_listing_id is not None else 0,
                       window_days=days)
    n, deals = int(row["n"]), int(row["deals"])
    if n < least:
        return PriceReference(None, n, deals, days, least, market_version, "too_few")
    return PriceReference(Decimal(row["median"]), n, deals, days, least, market_version)


def listing_reference(conn: Connection, *, listing_id: int) -> PriceReference | None:
    """The reference of one listing; None when there is no such listing. A listing that is
    not a parallel import, or an import whose market version is not recorded, gets a
    reference without a median and says why."""
    row = db.fetch_one(conn, _LISTING, id=listing_id)
    if row is None:
        return None
    days, least = window_days(), min_count()
    if not row["is_parallel_import"]:
        return PriceReference(None, 0, 0, days, least, None, "not_import")
    if row["market_version"] is None:
        return PriceReference(None, 0, 0, days, least, None, "no_version")
    return reference_for(conn, trim_id=row["trim_id"], market_version=row["market_version"],
                         exclude_listing_id=listing_id)
