"""Whether a parallel-import listing has its documents: one definition for every reader (the
document queue, the listing review, search and the board), in Python and in SQL.

A listing is complete when each of the four kinds has an approved document; a pending or
rejected one does not count. Only parallel imports need documents: a domestic listing is never
"documents missing"."""
from __future__ import annotations

# The four import documents, in the order a person checks them (migration 109): the customs
# declaration (关单), the inspection certificate (商检单), the China 6 environmental disclosure
# (环保信息公开) and the conformity certificate (一致性证书).
DOC_KINDS: tuple[str, ...] = ("customs", "inspection", "env_disclosure", "conformity")


def docs_missing_sql(listing: str = "l") -> str:
    """A boolean SQL expression over the listing aliased ``listing`` (its id and
    is_parallel_import): true when it is an import without all four kinds approved. Uses the
    partial unique index on (listing_id, doc_kind) of pending-or-approved documents."""
    return (f"({listing}.is_parallel_import AND (SELECT count(*) FROM app.import_documents d "
            f"WHERE d.listing_id = {listing}.id AND d.status = 'approved') < {len(DOC_KINDS)})")


def missing_kinds(approved: set[str] | frozenset[str]) -> list[str]:
    """The kinds still to be approved, in checking order."""
    return [k for k in DOC_KINDS if k not in approved]
