"""Plan "Sync financial accounts": the AIQ chart of accounts written into Bunny's financial accounts.

Identity: an imported account is matched by its AIQ code within the Bunny entity, and marked ours with
`externalId = AIQ:<aiq entity>:<code>` (the AIQ entity is part of it so two AIQ companies feeding one Bunny
tenant cannot claim each other's rows), `source = accountsiq`.

What the plan never does:
- touch what a person set in Bunny: `defaultAccount`, `priceListChargeIds`, and the `accountType` of an
  existing account (finance re-types accounts in Bunny's GL mappings; the type is only chosen on creation);
- touch Bunny's built-in accounts (no code) or coded accounts that are not ours and have no AIQ counterpart;
- delete: accounts we imported that left AIQ (or went inactive, or no longer fit a Bunny type) are set
  `active=false`, because charges and journal entries may still point at them.

Type policy (`bunny_account_type`): Bunny's `FinancialAccountType` is narrower than AIQ's chart, so only
accounts with a natural Bunny meaning are imported:
- AIQ type Bank -> `payments`; AIQ type VAT -> `tax_payable`;
- deferred revenue/income -> `deferred_revenue`;
- a Control account about debtors/receivables -> `accounts_receivable`;
- a revenue account -> `earned_revenue`, posting or not (Bunny lets finance map charges to it; a non-posting
  one is then refused per charge by `gl_mapping`). "Revenue" is read from GLCategoryTypeDescription /
  GLCategory (revenue, income, sales, turnover; not cost/expense), and only when AIQ gives no category at
  all, from the description;
- everything else (expenses, assets, liabilities, equity) is skipped and reported as such: Bunny has no type
  for it, and importing it under a wrong one would offer e.g. an expense account as a revenue target.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiq_pipeline.sync.inputs import AiqGLAccount, BunnyFinancialAccount

SOURCE = "accountsiq"
_REVENUE_WORDS = ("revenue", "income", "sales", "turnover")
_NOT_REVENUE_WORDS = ("cost", "expense", "deferred")
_DEBTOR_WORDS = ("debtor", "receivable", "sales ledger")


def external_id(aiq_entity_id: str, code: str) -> str:
    return f"AIQ:{aiq_entity_id}:{code}"


def is_ours(account: BunnyFinancialAccount, aiq_entity_id: str) -> bool:
    return (account.external_id or "").startswith(f"AIQ:{aiq_entity_id}:")


def _has_any(text: str, words: Iterable[str]) -> bool:
    return any(word in text for word in words)


def bunny_account_type(account: AiqGLAccount) -> str | None:
    """The Bunny `FinancialAccountType` of an AIQ account, or None when it has none (see the module docstring)."""
    kind = (account.account_type or "").strip().lower()
    category = " ".join(filter(None, (account.gl_category_type_description, account.gl_category))).lower()
    text = f"{category} {account.description}".lower()
    if kind == "bank":
        return "payments"
    if kind == "vat":
        return "tax_payable"
    if "deferred" in text and _has_any(text, ("revenue", "income")):
        return "deferred_revenue"
    if kind == "control" and _has_any(text, _DEBTOR_WORDS):
        return "accounts_receivable"
    if "balance" in (account.balance_sheet_type or "").lower():
        return None  # a balance-sheet account is never earned revenue
    revenue_text = category or (account.description or "").lower()
    if _has_any(revenue_text, _REVENUE_WORDS) and not _has_any(revenue_text, _NOT_REVENUE_WORDS):
        return "earned_revenue"
    return None


def _description(aiq_entity_id: str, account: AiqGLAccount) -> str:
    kind = account.account_type or "account"
    category = account.gl_category_type_description or account.gl_category
    return f"AccountsIQ {aiq_entity_id} {kind} account" + (f" ({category})" if category else "")


@dataclass(frozen=True)
class FinancialAccountCreate:
    entity_id: str
    code: str
    name: str
    description: str
    account_type: str
    external_id: str
    source: str = SOURCE
    active: bool = True

    def attributes(self) -> dict[str, object]:
        """Keyword arguments of Bunny's `FinancialAccountAttributes`."""
        return {
            "code": self.code,
            "name": self.name,
            "description": self.description,
            "account_type": self.account_type,
            "active": self.active,
            "entity_id": self.entity_id,
            "external_id": self.external_id,
            "source": self.source,
        }


@dataclass(frozen=True)
class FinancialAccountUpdate:
    id: str
    code: str
    changes: Mapping[str, object]  # only name / description / external_id / active, by attribute name


@dataclass(frozen=True)
class FinancialAccountDeactivation:
    id: str
    code: str
    reason: str

    @property
    def changes(self) -> Mapping[str, object]:
        return {"active": False}


@dataclass(frozen=True)
class SkippedAccount:
    code: str
    reason: str


@dataclass(frozen=True)
class FinancialAccountPlan:
    creates: tuple[FinancialAccountCreate, ...]
    updates: tuple[FinancialAccountUpdate, ...]
    deactivations: tuple[FinancialAccountDeactivation, ...]
    unchanged: tuple[str, ...]  # codes already as desired
    skipped: tuple[SkippedAccount, ...] = ()  # AIQ accounts not imported, with why

    @property
    def is_empty(self) -> bool:
        """Nothing to write."""
        return not (self.creates or self.updates or self.deactivations)


def _accounts_by_code(
    existing: Iterable[BunnyFinancialAccount], bunny_entity_id: str, aiq_entity_id: str
) -> dict[str, BunnyFinancialAccount]:
    """Bunny accounts of this entity that carry a code, by upper-case code; ours first, then lowest id, wins."""
    candidates = sorted(
        (a for a in existing if a.entity_id == bunny_entity_id and (a.code or "").strip()),
        key=lambda a: (not is_ours(a, aiq_entity_id), a.id),
    )
    by_code: dict[str, BunnyFinancialAccount] = {}
    for account in candidates:
        by_code.setdefault((account.code or "").strip().upper(), account)
    return by_code


def _desired(aiq: AiqGLAccount, bunny_entity_id: str, aiq_entity_id: str) -> FinancialAccountCreate | SkippedAccount:
    """The Bunny account an AIQ account should be, or why it is not imported."""
    code = aiq.code.strip().upper()
    if not aiq.is_active:
        return SkippedAccount(code, "inactive in AIQ")
    account_type = bunny_account_type(aiq)
    if account_type is None:
        return SkippedAccount(code, f"no Bunny account type fits AIQ {aiq.account_type} '{aiq.description}'")
    return FinancialAccountCreate(
        entity_id=bunny_entity_id,
        code=code,
        name=aiq.description,
        description=_description(aiq_entity_id, aiq),
        account_type=account_type,
        external_id=external_id(aiq_entity_id, code),
    )


def _changes(current: BunnyFinancialAccount, desired: FinancialAccountCreate) -> dict[str, object]:
    """Only these four follow AIQ; type, default and charge mapping belong to the user."""
    wanted = {key: getattr(desired, key) for key in ("name", "description", "external_id", "active")}
    return {key: value for key, value in wanted.items() if getattr(current, key) != value}


def plan_financial_accounts(
    chart: Iterable[AiqGLAccount],
    existing: Iterable[BunnyFinancialAccount],
    *,
    bunny_entity_id: str,
    aiq_entity_id: str,
) -> FinancialAccountPlan:
    """Diff the AIQ chart against the Bunny entity's financial accounts. Idempotent: planning again after the
    plan was applied gives an empty plan."""
    by_code = _accounts_by_code(existing, bunny_entity_id, aiq_entity_id)
    creates: list[FinancialAccountCreate] = []
    updates: list[FinancialAccountUpdate] = []
    unchanged: list[str] = []
    skipped: list[SkippedAccount] = []
    for aiq in sorted(chart, key=lambda a: a.code):
        desired = _desired(aiq, bunny_entity_id, aiq_entity_id)
        if isinstance(desired, SkippedAccount):
            skipped.append(desired)
        elif (current := by_code.get(desired.code)) is None:
            creates.append(desired)
        elif changes := _changes(current, desired):
            updates.append(FinancialAccountUpdate(current.id, desired.code, changes))
        else:
            unchanged.append(desired.code)

    wanted = {c.code for c in creates} | {u.code for u in updates} | set(unchanged)
    deactivations = [
        FinancialAccountDeactivation(account.id, code, "no longer an active AIQ account of a Bunny type")
        for code, account in sorted(by_code.items())
        if code not in wanted and account.active and is_ours(account, aiq_entity_id)
    ]
    return FinancialAccountPlan(tuple(creates), tuple(updates), tuple(deactivations), tuple(unchanged), tuple(skipped))
