"""Bunny's side of the demo's second pair (`holdings`: Bunny entity 2 "Demo US Inc" <-> AIQ DEMO02 "Demo Holdings").

What a finance team would have set up in Bunny before switching that pair on, as it did for entity 1: entity 2's
AIQ accounts imported, `4000` Revenue the Default earned-revenue account (Bunny's built-in default carries no AIQ
code: without it every charge of entity 2 without an account of its own is UNMAPPED_CHARGE) and `4010`
Professional services revenue. `PRO-SERVICES` books to 4010 by its code, which DEMO02's chart has too.

Nothing here draws from the generator's random numbers: entity 1's documents are the same with or without it.
"""

from __future__ import annotations

from aiq_emulators.bunny.models import Tenant
from aiq_emulators.bunny.sample_tenant import imported_revenue_account

HOLDINGS_BUNNY_ENTITY = "2"
HOLDINGS_ACCOUNTS = (("4000", "Revenue", True), ("4010", "Professional services revenue", False))


def set_up_holdings(tenant: Tenant) -> None:
    """Give `tenant` (the sample tenant or the generated one, changed in place) entity 2's imported accounts; a
    tenant whose entity 2 has coded accounts already is left as it is."""
    mine = [a for a in tenant.financial_accounts if a.entity_id == HOLDINGS_BUNNY_ENTITY]
    if any(a.code for a in mine):
        return
    for account in mine:
        if account.account_type == "earned_revenue":
            account.default_account = False  # the imported 4000 is the default now
    next_id = max(int(a.id) for a in tenant.financial_accounts) + 1
    for offset, (code, name, default) in enumerate(HOLDINGS_ACCOUNTS):
        tenant.financial_accounts.append(
            imported_revenue_account(str(next_id + offset), HOLDINGS_BUNNY_ENTITY, code, name, default=default)
        )


def holdings_summary(tenant: Tenant) -> dict[str, object]:
    """What a sync of the holdings pair is expected to do (`demo-summary.json`'s `holdings`): everything posts."""
    released = sum(
        1 for i in tenant.invoices if i.entity_id == HOLDINGS_BUNNY_ENTITY and i.state in ("DUE", "NOT_DUE", "PAID")
    )
    received = sum(
        1 for p in tenant.payments if p.entity_id == HOLDINGS_BUNNY_ENTITY and p.processing_state == "SUCCEEDED"
    )
    return {
        "pair": "holdings: Bunny entity 2 -> AIQ DEMO02",
        "invoices": {"picked_up": released, "posted": released, "failed": 0},
        "payments": {"picked_up": received, "posted": received, "failed": 0},
    }
