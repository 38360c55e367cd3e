"""What `doctor` checks of the AIQ accounts the posting rules name: each mapped bank account, the fees, account
credit, bad-debt and rounding accounts. The checks are the planners' own (`sync/documents/banks.py`,
`sync/gl_mapping.account_problem`), so doctor refuses exactly what posting would refuse."""

from __future__ import annotations

from collections.abc import Callable

from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.errors import AiqError
from aiq_pipeline.settings import PostingRules
from aiq_pipeline.sync.documents.banks import bank_for
from aiq_pipeline.sync.documents.context import ANY, LedgerSnapshot, PaymentAccounts
from aiq_pipeline.sync.gl_mapping import account_problem

# (variable, what the account is for, the rule's value)
_ACCOUNTS: tuple[tuple[str, str, Callable[[PostingRules], str | None]], ...] = (
    ("AIQ_PIPELINE_FEES_ACCOUNT", "processor fees", lambda r: r.fees_account),
    ("AIQ_PIPELINE_ACCOUNT_CREDIT_ACCOUNT", "account credit", lambda r: r.account_credit_account),
    ("AIQ_PIPELINE_BAD_DEBT_ACCOUNT", "write-offs", lambda r: r.bad_debt_account),
    ("AIQ_PIPELINE_ROUNDING_ACCOUNT", "tax rounding", lambda r: r.rounding_account),
)

Add = Callable[[str, bool, str, str | None], object]


def check_rule_accounts(client: AccountsIQClient, rules: PostingRules, base_currency: str, add: Add) -> None:
    """One line per account setting: ok naming the AIQ account, or what is wrong and which variable to change."""
    try:
        ledger = LedgerSnapshot.of(
            chart=client.get_chart_of_accounts(),
            tax_codes=(),
            periods=(),
            base_currency=base_currency,
            banks=[(b.gl_account_code, b.currency_code) for b in client.get_bank_list()],
        )
    except AiqError as exc:
        add("AIQ accounts", False, f"the chart of accounts or bank list cannot be read: {exc}", None)
        return
    _check_banks(rules, ledger, add)
    for variable, purpose, value in _ACCOUNTS:
        code = value(rules)
        if code is None:
            continue
        problem = account_problem(code, ledger.accounts, used_by=variable)
        detail = problem.message if problem else f"{code} {ledger.accounts[code.upper()].description} ({purpose})"
        add(f"AIQ {purpose} account", problem is None, detail, variable)


def _check_banks(rules: PostingRules, ledger: LedgerSnapshot, add: Add) -> None:
    variable = "AIQ_PIPELINE_BANK_ACCOUNTS"
    if not rules.bank_accounts:
        add(
            "AIQ bank accounts",
            True,
            "none mapped: payments and refunds wait on the exceptions list (UNMAPPED_BANK_ACCOUNT) until "
            f"{variable} maps their processor and currency",
            None,
        )
        return
    mapped, problems = [], []
    for (processor, currency), code in sorted(rules.bank_accounts.items()):
        accounts = PaymentAccounts(banks={(processor, currency): code})
        label = f"{variable} entry {processor}:{currency}"
        wanted = ledger.banks.get(code.upper()) if currency == ANY and ledger.banks else currency
        bank, found = bank_for(label, processor, wanted or ledger.base_currency, None, accounts, ledger)
        problems += [p.message for p in found]
        if bank is not None:
            held = (ledger.banks or {}).get(code.upper()) or "currency not listed"
            mapped.append(f"{processor}:{currency} -> {code} ({held})")
    if problems:
        add("AIQ bank accounts", False, " ".join(problems), variable)
    else:
        add("AIQ bank accounts", True, "; ".join(mapped), None)
