"""Ready `POST /_emulator/invoices` specs for the real-world invoice shapes of issue 11, in the sample tenant's
vocabulary (account ACME, charges SUB-MONTHLY and PRO-SERVICES, the AIQ sample tax codes V01 23 %, V02 13.5 %,
V00 0 %). Tests and demo builders post them as they are or adapt them; `write_off` and `/consolidate` are
actions on issued invoices, see README.md.

The `vat_code` markers on the reverse-charge and export lines are illustrations: what Bunny's tax plugins write
there is unknown (MONEY.md, "Left open").
"""

from __future__ import annotations

import copy
from typing import Any

Spec = dict[str, Any]

_STANDARD = {"charge": "SUB-MONTHLY", "price": "99.00", "tax_rate": "23", "tax_code": "V01"}

SHAPES: dict[str, Spec] = {
    # Upgrade mid-period: the new plan for the rest of the month, and the unused half of the old one credited.
    "proration_upgrade": {
        "items": [
            {**_STANDARD, "line_text": "Pro plan (15-30 Nov)", "kind": "UPDATE", "proration_rate": "0.5"},
            {"charge": "SUB-MONTHLY", "price": "-24.50", "tax_rate": "23", "tax_code": "V01", "is_credit": True,
             "kind": "UPDATE", "proration_rate": "0.5", "line_text": "Unused Basic plan (15-30 Nov)"},
        ],
    },
    # Downgrade: the credit for the dearer plan exceeds the new charge, so the invoice total is negative.
    "proration_downgrade": {
        "items": [
            {"charge": "SUB-MONTHLY", "price": "24.50", "tax_rate": "23", "tax_code": "V01", "kind": "UPDATE",
             "proration_rate": "0.5", "line_text": "Basic plan (15-30 Nov)"},
            {"charge": "SUB-MONTHLY", "price": "-49.50", "tax_rate": "23", "tax_code": "V01", "is_credit": True,
             "kind": "UPDATE", "proration_rate": "0.5", "line_text": "Unused Pro plan (15-30 Nov)"},
        ],
    },
    "percentage_coupon": {"items": [_STANDARD], "coupons": [{"code": "WINTER20", "percent": "20"}]},
    "fixed_coupon": {"items": [_STANDARD], "coupons": [{"code": "WELCOME10", "amount": "10.00"}]},
    "goodwill_credit": {
        "items": [
            _STANDARD,
            {"charge": "SUB-MONTHLY", "price": "-20.00", "tax_rate": "23", "tax_code": "V01", "is_credit": True,
             "line_text": "Goodwill credit (service outage)"},
        ],
    },
    "discounted_services": {
        "items": [{"charge": "PRO-SERVICES", "quantity": 5, "price": "150.00", "discount": "75.00",
                   "tax_rate": "13.5", "tax_code": "V02", "charge_kind": "quote"}],
    },
    "credit_applied": {"items": [_STANDARD], "credits": "30.00"},
    "zero_value_trial": {
        "items": [{**_STANDARD, "line_text": "Pro plan (trial)"}],
        "coupons": [{"code": "TRIAL", "percent": "100"}],
    },
    # One invoice, five tax treatments: standard, reduced, zero-rated, reverse charge, export.
    "several_tax_rates": {
        "items": [
            _STANDARD,
            {"charge": "PRO-SERVICES", "price": "150.00", "tax_rate": "13.5", "tax_code": "V02",
             "charge_kind": "quote"},
            {"charge": "SUB-MONTHLY", "price": "20.00", "tax_rate": "0", "tax_code": "V00", "line_text": "Books"},
            {"charge": "SUB-MONTHLY", "price": "40.00", "tax_rate": "0", "tax_code": None, "vat_code": "RC",
             "line_text": "EU business customer (reverse charge)"},
            {"charge": "SUB-MONTHLY", "price": "60.00", "tax_rate": "0", "tax_code": None, "vat_code": "EXPORT",
             "line_text": "Customer outside the EU (export)"},
        ],
    },
    # Waits in QUEUED for `POST /_emulator/invoices/consolidate` (consolidated billing).
    "queued_for_consolidation": {"items": [_STANDARD], "queued": True},
}  # fmt: skip


def shape(name: str, account: str = "ACME", **overrides: Any) -> Spec:
    """A fresh copy of one shape for `account`, with `overrides` (e.g. `release=True`, `count=3`)."""
    return {"account": account, **copy.deepcopy(SHAPES[name]), **overrides}
