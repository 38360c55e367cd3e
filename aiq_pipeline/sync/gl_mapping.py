"""Which AIQ account each Bunny price-list charge posts to, and whether AIQ will accept it.

Rule (Bunny's own, seed guide "Financial account mapping"): a charge's own financial account, else the
entity's default *earned revenue* account. Resolution reads Bunny only; `validate_gl_mapping` then checks
every resolved code against the AIQ chart-of-accounts snapshot, so a bad mapping is reported per charge
before any invoice is attempted, and invoices reuse the same verdicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from aiq_pipeline.sync.inputs import AiqGLAccount, BunnyFinancialAccount, BunnyPriceListCharge
from aiq_pipeline.sync.problems import Problem, ProblemCode

EARNED_REVENUE = "earned_revenue"
Source = Literal["charge", "default"]

_MAP_FIX = (
    "In Bunny (Billing > GL mappings) map the charge to a financial account that carries an AIQ code, or make "
    "an active Earned revenue account with an AIQ code the Default; then retry."
)


@dataclass(frozen=True)
class ChargeMapping:
    charge_id: str
    charge_code: str | None
    account_code: str | None  # upper case, as AIQ stores codes
    source: Source | None
    problem: Problem | None = None

    @property
    def label(self) -> str:
        return _charge_label(self.charge_id, self.charge_code)


@dataclass(frozen=True)
class GLMapping:
    rows: tuple[ChargeMapping, ...]
    # The entity default, also used for invoice lines that belong to no price-list charge.
    default_account_code: str | None
    default_problem: Problem | None = None

    _by_id: Mapping[str, ChargeMapping] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {row.charge_id: row for row in self.rows})

    def for_charge(self, charge_id: str) -> ChargeMapping | None:
        return self._by_id.get(charge_id)

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(row.problem for row in self.rows if row.problem)


def _charge_label(charge_id: str, charge_code: str | None) -> str:
    return f"charge {charge_code} (id {charge_id})" if charge_code else f"charge id {charge_id}"


def _normalize(code: str | None) -> str | None:
    text = (code or "").strip().upper()
    return text or None


def _entity_default(accounts: list[BunnyFinancialAccount], entity_id: str) -> tuple[str | None, Problem | None]:
    defaults = [a for a in accounts if a.default_account and a.active and a.account_type == EARNED_REVENUE]
    coded = sorted({code for a in defaults if (code := _normalize(a.code))})
    if len(coded) == 1:
        return coded[0], None
    if coded:
        return None, Problem(
            ProblemCode.UNMAPPED_CHARGE,
            f"Bunny entity {entity_id} has several default Earned revenue accounts with AIQ codes "
            f"({', '.join(coded)}), so the default is ambiguous.",
            "In Bunny (Billing > GL mappings) keep the Default setting on exactly one Earned revenue account.",
        )
    return None, Problem(
        ProblemCode.UNMAPPED_CHARGE,
        f"Bunny entity {entity_id} has no active default Earned revenue account with an AIQ code "
        "(Bunny's built-in default carries no AIQ code).",
        "In Bunny (Billing > GL mappings) open the imported AIQ revenue account, set type Earned revenue and "
        "enable Default; then retry.",
    )


def _unmapped(charge: BunnyPriceListCharge, message: str) -> ChargeMapping:
    return ChargeMapping(charge.id, charge.code, None, None, Problem(ProblemCode.UNMAPPED_CHARGE, message, _MAP_FIX))


def _resolve_charge(
    charge: BunnyPriceListCharge,
    by_id: Mapping[str, BunnyFinancialAccount],
    entity_id: str,
    default: tuple[str | None, Problem | None],
) -> ChargeMapping:
    """The charge's own account (by code, else by id), else the entity default, else why neither can be used."""
    label = _charge_label(charge.id, charge.code)
    own_code = _normalize(charge.financial_account_code)
    if own_code is None and charge.financial_account_id is not None:
        own = by_id.get(charge.financial_account_id)
        if own is None:
            return _unmapped(
                charge,
                f"Bunny {label} points at financial account {charge.financial_account_id}, which is not an account "
                f"of entity {entity_id}.",
            )
        own_code = _normalize(own.code)
        if own_code is None:
            return _unmapped(
                charge,
                f"Bunny {label} is mapped to financial account '{own.name}' (id {own.id}), which has no AIQ code "
                "(a Bunny built-in account).",
            )
    if own_code is not None:
        return ChargeMapping(charge.id, charge.code, own_code, "charge")
    default_code, default_problem = default
    if default_code is not None:
        return ChargeMapping(charge.id, charge.code, default_code, "default")
    assert default_problem is not None
    return _unmapped(
        charge,
        f"Bunny {label} has no financial account of its own, and the default cannot be used: {default_problem.message}",
    )


def resolve_gl_mapping(
    charges: Iterable[BunnyPriceListCharge], financial_accounts: Iterable[BunnyFinancialAccount], *, entity_id: str
) -> GLMapping:
    """Resolve every charge for the Bunny entity `entity_id` (accounts of other entities are ignored)."""
    accounts = [a for a in financial_accounts if a.entity_id == entity_id]
    by_id = {a.id: a for a in accounts}
    default = _entity_default(accounts, entity_id)
    rows = [_resolve_charge(charge, by_id, entity_id, default) for charge in charges]
    return GLMapping(tuple(rows), *default)


def account_problem(code: str, chart: Mapping[str, AiqGLAccount], *, used_by: str) -> Problem | None:
    """Why AIQ would refuse a sales line on account `code` (`chart` keyed by upper-case code), or None.

    `used_by` names who resolved to the account, e.g. "charge SUB-MONTHLY (id 1) (via the entity default)".
    """
    account = chart.get(code.upper())
    if account is None:
        return Problem(
            ProblemCode.UNKNOWN_GL_ACCOUNT,
            f"Account {code} (used by {used_by}) does not exist in AIQ's chart of accounts.",
            f"Create account {code} in AIQ, or in Bunny (Billing > GL mappings) map the charge to an existing AIQ "
            "account (run Sync financial accounts first); then retry.",
        )
    name = f"Account {account.code} '{account.description}' (used by {used_by})"
    if not account.is_active:
        return Problem(
            ProblemCode.INACTIVE_GL_ACCOUNT,
            f"{name} is inactive in AIQ.",
            f"Reactivate {account.code} in AIQ, or in Bunny map the charge to an active AIQ account; then retry.",
        )
    if not account.is_posting:
        return Problem(
            ProblemCode.NOT_POSTING_ACCOUNT,
            f"{name} is a {account.account_type or 'non-posting'} account in AIQ; invoice lines can only post to a "
            "Posting account.",
            "In Bunny (Billing > GL mappings) map the charge to a Posting revenue account; then retry.",
        )
    if account.is_departmental:
        return Problem(
            ProblemCode.DEPARTMENTAL_ACCOUNT,
            f"{name} is departmental in AIQ: every posting needs a department, and the sync sends none.",
            f"In Bunny map the charge to a non-departmental account, or make {account.code} non-departmental in "
            "AIQ; then retry.",
        )
    return None


def chart_by_code(chart: Iterable[AiqGLAccount]) -> dict[str, AiqGLAccount]:
    return {account.code.strip().upper(): account for account in chart}


def validate_gl_mapping(mapping: GLMapping, chart: Iterable[AiqGLAccount]) -> GLMapping:
    """`mapping` with an AIQ problem attached to every row (and the default) whose account AIQ would refuse."""
    accounts = chart_by_code(chart)
    rows = []
    for row in mapping.rows:
        if row.problem is None and row.account_code is not None:
            via = " via the entity's default revenue account" if row.source == "default" else ""
            problem = account_problem(row.account_code, accounts, used_by=f"Bunny {row.label}{via}")
            row = dataclasses.replace(row, problem=problem)
        rows.append(row)
    default_problem = mapping.default_problem
    if default_problem is None and mapping.default_account_code is not None:
        default_problem = account_problem(
            mapping.default_account_code, accounts, used_by="the Bunny entity's default revenue account"
        )
    return GLMapping(tuple(rows), mapping.default_account_code, default_problem)
