"""Paying the seller: the one place a loan's money leaves the building.

Disbursement (console/finance/loans.py) pays the order's seller, never the borrower, through
the gateway in use here. A gateway takes an idempotency key (one per loan: the channel pays a
key once, so a disbursement retried after a crash between paying and committing does not pay
twice) and returns the channel's reference, which the loan keeps.

The default gateway is the bank-transfer instruction: its reference is the instruction the
finance team executes from the bank's file (no network call is made here). A deployment with
a payment API installs its client with ``use`` at start-up; tests install a fake.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Protocol


class PayoutFailed(Exception):
    """The channel refused or could not be reached: nothing was paid."""


class Gateway(Protocol):
    def pay_seller(self, *, seller_id: int, amount: Decimal, idempotency_key: str) -> str:
        """Pay ``amount`` yuan to the seller; the channel's reference (≤ 64 characters)."""


class BankTransferInstruction:
    """A transfer instruction for the finance team; its reference names the loan's key."""

    def pay_seller(self, *, seller_id: int, amount: Decimal, idempotency_key: str) -> str:
        return f"BT-{idempotency_key}"


_gateway: Gateway = BankTransferInstruction()


def gateway() -> Gateway:
    return _gateway


@contextmanager
def use(replacement: Gateway) -> Iterator[Gateway]:
    """Install ``replacement`` for the block (a deployment's client, a test's fake)."""
    global _gateway
    previous, _gateway = _gateway, replacement
    try:
        yield replacement
    finally:
        _gateway = previous
