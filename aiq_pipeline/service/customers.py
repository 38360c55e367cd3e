"""Making sure the AIQ customer of a Bunny account exists, once, whatever else is running."""

from __future__ import annotations

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.errors import AiqValidationError, AiqWriteOutcomeUnknown
from aiq_pipeline.accountsiq.models import Customer
from aiq_pipeline.sync.customer import DesiredCustomer, new_customer

# What AIQ answers when another writer created or changed the customer between our look and our write.
CONCURRENT_CHANGE_CODES = frozenset({"OUTDATED_RECORD", "ACCOUNT_CODE_ALREADY_IN_USE"})


def ensure_customer(aiq: AccountsIQClient, code: str, desired: DesiredCustomer) -> Customer:
    """Create customer `code` from AIQ's defaults with the `desired` fields unless it exists; return it.

    Safe when two runs create the same customer at once (the loser re-reads the winner's) and after an unknown
    outcome (look before creating again). A genuine rejection (a field AIQ refuses) propagates.
    """
    customer = new_customer(aiq.get_new_customer_from_defaults(), desired)
    customer.code = code
    try:
        aiq.update_customer(customer, create=True)
    except AiqWriteOutcomeUnknown:
        pass  # it may or may not exist now: the look below decides
    except AiqValidationError as exc:
        if exc.code not in CONCURRENT_CHANGE_CODES:
            raise
    existing = aiq.get_customer(code)
    if existing is None:
        aiq.update_customer(customer, create=True)  # the unknown outcome was "not created": create it now
        existing = aiq.get_customer(code)
    if existing is None:
        raise AiqValidationError(f"customer {code} was created but AIQ does not return it", operation="GetCustomer")
    return existing
