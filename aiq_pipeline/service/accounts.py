"""The AIQ ledger and what follows from it, composed from the clients, the store and the pure domain:

- `read_ledger`: AIQ's chart of accounts, tax codes and periods, with the rows of their snapshots;
- `chart_from_store`: the chart as the latest ledger snapshot holds it (what the next two build on, so the accounts
  and the mapping agree with the snapshot a person sees);
- `sync_financial_accounts`: "Sync financial accounts": the chart written into the Bunny entity's financial accounts
  (the plan is `sync.financial_accounts`); returns what was sent and what Bunny holds afterwards;
- `read_gl_mapping`: every Bunny price-list charge resolved to its AIQ account and checked against the chart
  (`sync.gl_mapping`); `mapping_rows` gives its snapshot rows.

Clients are passed in already open. Nothing here writes the store: the callers (the Dagster assets) write each
snapshot from the rows returned, into the tables named here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.models import GLAccount, Period, TaxCode
from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.bunny.models import FinancialAccount, FinancialAccountAttributes
from aiq_pipeline.store import Store
from aiq_pipeline.sync.financial_accounts import FinancialAccountCreate, FinancialAccountPlan, plan_financial_accounts
from aiq_pipeline.sync.gl_mapping import GLMapping, resolve_gl_mapping, validate_gl_mapping

GL_ACCOUNTS_TABLE = "aiq_gl_accounts"
TAX_CODES_TABLE = "aiq_tax_codes"
PERIODS_TABLE = "aiq_periods"
FINANCIAL_ACCOUNTS_TABLE = "bunny_financial_accounts"
GL_MAPPING_TABLE = "gl_mapping"

# The GLAccount fields the chart-of-accounts snapshot keeps (is_posting is stored too, but derived).
_STORED_GL_FIELDS = (
    "code",
    "description",
    "account_type",
    "is_active",
    "is_departmental",
    "currency_code",
    "gl_category",
    "gl_sub_category",
    "gl_category_type_description",
    "balance_sheet_type",
)


class NoLedgerSnapshot(LookupError):
    """The store holds no chart of accounts yet."""

    def __init__(self, aiq_entity_id: str) -> None:
        super().__init__(
            f"There is no ledger snapshot of AIQ entity {aiq_entity_id} yet: materialize its chart_of_accounts "
            "(the ledger snapshot) first."
        )


# --- the AIQ ledger -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ledger:
    """AIQ's chart of accounts, tax codes and periods of one entity, as read."""

    accounts: tuple[GLAccount, ...]
    tax_codes: tuple[TaxCode, ...]
    periods: tuple[Period, ...]

    @property
    def posting_accounts(self) -> int:
        """Active accounts a sales line can post to."""
        return sum(1 for a in self.accounts if a.is_posting and a.is_active)

    @property
    def open_sales_periods(self) -> int:
        return sum(1 for p in self.periods if not p.sales_ledger_closed)

    def account_rows(self) -> list[dict[str, Any]]:
        return [{**asdict(a), "is_posting": a.is_posting} for a in self.accounts]

    def tax_code_rows(self) -> list[dict[str, Any]]:
        return [asdict(t) for t in self.tax_codes]

    def period_rows(self) -> list[dict[str, Any]]:
        return [asdict(p) for p in self.periods]


def read_ledger(aiq: AccountsIQClient) -> Ledger:
    return Ledger(tuple(aiq.get_chart_of_accounts()), tuple(aiq.get_tax_codes()), tuple(aiq.get_periods()))


def chart_from_store(store: Store, aiq_entity_id: str) -> list[GLAccount]:
    """The AIQ entity's chart of accounts from its latest ledger snapshot; `NoLedgerSnapshot` when there is none yet."""
    rows = store.current(GL_ACCOUNTS_TABLE, aiq_entity_id)
    if not rows:
        raise NoLedgerSnapshot(aiq_entity_id)
    return [GLAccount(**{f: row[f] for f in _STORED_GL_FIELDS}) for row in rows]


# --- Bunny's financial accounts -------------------------------------------------------------------------


@dataclass(frozen=True)
class FinancialAccountsSync:
    """What one "Sync financial accounts" sent, and the entity's accounts in Bunny afterwards."""

    plan: FinancialAccountPlan
    accounts: tuple[FinancialAccount, ...]

    @property
    def mutations(self) -> int:
        return len(self.plan.creates) + len(self.plan.updates) + len(self.plan.deactivations)

    def rows(self) -> list[dict[str, Any]]:
        """The snapshot of Bunny's accounts (`bunny_financial_accounts`)."""
        return [
            {
                "id": a.id,
                "code": a.code,
                "name": a.name,
                "account_type": a.account_type,
                "active": a.active,
                "default_account": a.default_account,
                "external_id": a.external_id,
                "source": a.source,
            }
            for a in self.accounts
        ]

    def skipped_rows(self) -> list[dict[str, Any]]:
        """The AIQ accounts not imported, with why."""
        return [{"code": s.code, "reason": s.reason} for s in self.plan.skipped]


def sync_financial_accounts(
    bunny: BunnyClient, chart: Iterable[GLAccount], *, bunny_entity_id: str, aiq_entity_id: str
) -> FinancialAccountsSync:
    """Plan the chart against the entity's accounts, send the plan's mutations, and read the accounts back (only
    when something was sent). Idempotent: a second run sends nothing."""
    existing = list(bunny.iter_financial_accounts(bunny_entity_id))
    plan = plan_financial_accounts(chart, existing, bunny_entity_id=bunny_entity_id, aiq_entity_id=aiq_entity_id)
    for create in plan.creates:
        bunny.create_financial_account(_create_attributes(create))
    for update in plan.updates:
        bunny.update_financial_account(update.id, _update_attributes(update.changes))
    for deactivation in plan.deactivations:
        bunny.update_financial_account(deactivation.id, FinancialAccountAttributes(active=False))
    after = existing if plan.is_empty else list(bunny.iter_financial_accounts(bunny_entity_id))
    return FinancialAccountsSync(plan, tuple(after))


def _create_attributes(create: FinancialAccountCreate) -> FinancialAccountAttributes:
    return FinancialAccountAttributes(
        code=create.code,
        name=create.name,
        description=create.description,
        account_type=create.account_type,
        active=create.active,
        entity_id=create.entity_id,
        external_id=create.external_id,
        source=create.source,
    )


def _update_attributes(changes: Mapping[str, object]) -> FinancialAccountAttributes:
    """The fields a plan may change (name, description, external id: text; active: a flag); the rest unsent."""

    def text(key: str) -> str | None:
        value = changes.get(key)
        return None if value is None else str(value)

    active = changes.get("active")
    return FinancialAccountAttributes(
        name=text("name"),
        description=text("description"),
        external_id=text("external_id"),
        active=None if active is None else bool(active),
    )


# --- the GL mapping ---------------------------------------------------------------------------------------


def read_gl_mapping(bunny: BunnyClient, chart: Iterable[GLAccount], *, bunny_entity_id: str) -> GLMapping:
    """Every price-list charge resolved to its AIQ account (its own, else the entity default), with the problem AIQ
    would have with it attached."""
    mapping = resolve_gl_mapping(
        bunny.iter_price_list_charges(), bunny.iter_financial_accounts(bunny_entity_id), entity_id=bunny_entity_id
    )
    return validate_gl_mapping(mapping, chart)


def mapping_rows(mapping: GLMapping) -> list[dict[str, Any]]:
    """The snapshot of the mapping (`gl_mapping`), one row per charge."""
    return [
        {
            "charge_id": r.charge_id,
            "charge_code": r.charge_code,
            "charge_name": None,
            "account_code": r.account_code,
            "resolved_from": r.source,
            "problem_code": str(r.problem.code) if r.problem else None,
            "problem": str(r.problem) if r.problem else None,
        }
        for r in mapping.rows
    ]
