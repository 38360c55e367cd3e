"""Readings of AIQ's chart of accounts and tax codes: how `AccountType` is spelled, and the unit of `Tax.Rate`.

AccountType. The vendor's wiki names the GL types Posting, Control, Bank and VAT; a tenant may spell them so, in
upper case, or as one letter (protocol notes; the emulator's `account_type_spelling`). The probe lists the values
the chart holds and asks the product's own readers what each one is: `GLAccount.is_posting` (the only accounts an
invoice line may post to), `GLAccount.is_bank` (where receipts go), and the financial-accounts plan
(`bunny_account_type`: a debtors Control account becomes Bunny's accounts receivable, a VAT account its tax
payable). A value that names a GL type the product does not read as that type contradicts; a value naming none
of them is listed and leaves the reading undetermined.

Tax.Rate. Percent (23) or fraction (0.23): a rate above 1 can only be a percentage; rates all between 0 and 1
with one above 0 are fractions; only zeros (or a single rate of exactly 1) cannot tell.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal

from aiq_pipeline.accountsiq.models import GLAccount, TaxCode
from aiq_pipeline.service.probe.findings import Finding, Verdict, examples, setting_finding
from aiq_pipeline.settings import PostingRules
from aiq_pipeline.sync.financial_accounts import bunny_account_type

ACCOUNT_TYPES_READING = "AIQ AccountType"
ACCOUNT_TYPES_SETTING = "none: the product's own readers decide (the evidence says what each value is to them)"
GL_TYPES = ("posting", "control", "bank", "vat")
WORD, UPPER, LETTER = "word", "upper", "letter"


def _probe_account(account_type: str, description: str) -> GLAccount:
    return GLAccount("PROBE", description, account_type, is_active=True, is_departmental=False)


# What the product makes of an AccountType value, one reader per GL type.
PRODUCT_READS: dict[str, Callable[[str], bool]] = {
    "posting": lambda value: _probe_account(value, "Revenue").is_posting,
    "bank": lambda value: _probe_account(value, "Bank current account").is_bank,
    "control": lambda value: bunny_account_type(_probe_account(value, "Debtors control")) == "accounts_receivable",
    "vat": lambda value: bunny_account_type(_probe_account(value, "VAT on sales")) == "tax_payable",
}


def named_type(value: str) -> str | None:
    """The GL type a spelling names (`Posting`, `POSTING`, `P` -> posting), or None."""
    folded = value.strip().casefold()
    for gl_type in GL_TYPES:
        if folded in (gl_type, gl_type[0]):
            return gl_type
    return None


def spelling(values: Sequence[str]) -> str | None:
    """word (Posting), upper (POSTING) or letter (P), when every known value is spelled one way (VAT, upper case in
    both the word and the upper spelling, tells only a letter apart)."""
    styles = set()
    for value in values:
        text = value.strip()
        if len(text) == 1:
            styles.add(LETTER)
        elif text.casefold() == "vat":
            continue
        elif text.isupper():
            styles.add(UPPER)
        else:
            styles.add(WORD)
    return styles.pop() if len(styles) == 1 else None


def account_types_finding(accounts: Sequence[GLAccount]) -> Finding:
    counts = Counter((a.account_type or "").strip() for a in accounts)
    categories = Counter(c for a in accounts if (c := (a.gl_category_type_description or a.gl_category or "").strip()))
    known = {value: named_type(value) for value in counts if value}
    misread = sorted(v for v, t in known.items() if t is not None and not PRODUCT_READS[t](v))
    unknown = sorted(v for v, t in known.items() if t is None) + (["(blank)"] if "" in counts else [])
    posting = sum(n for v, n in counts.items() if v and PRODUCT_READS["posting"](v))
    treated = {t: sorted(v for v in known if PRODUCT_READS[t](v)) for t in ("posting", "control", "bank")}
    evidence = f"{len(accounts)} accounts: " + ", ".join(f"{v or '(blank)'} {n}" for v, n in sorted(counts.items()))
    evidence += "; the product treats as posting " + (", ".join(treated["posting"]) or "none")
    evidence += ", control " + (", ".join(treated["control"]) or "none")
    evidence += ", bank " + (", ".join(treated["bank"]) or "none")
    if categories:
        evidence += "; categories: " + examples(f"{c} {n}" for c, n in sorted(categories.items()))
    shows = spelling([v for v, t in known.items() if t is not None]) or "mixed"
    if misread or not posting:
        if misread:
            words = ", ".join(f"{v} ({known[v]})" for v in misread)
            problem = f"the product does not read {words} as the type it names"
        else:
            problem = "no account is one the product can post an invoice line to"
        fix = f"no setting covers this: {problem}; report it to the maintainers before switching the sensor on"
        return Finding(ACCOUNT_TYPES_READING, shows, evidence, ACCOUNT_TYPES_SETTING, Verdict.CONTRADICTS, fix=fix)
    if unknown:
        evidence += f"; values naming no GL type: {', '.join(unknown)}"
        return Finding(ACCOUNT_TYPES_READING, shows, evidence, ACCOUNT_TYPES_SETTING, Verdict.UNDETERMINED)
    return Finding(ACCOUNT_TYPES_READING, shows, evidence, ACCOUNT_TYPES_SETTING, Verdict.AGREES)


def tax_rate_unit(rates: Sequence[Decimal]) -> str | None:
    largest = max(rates, default=Decimal(0))
    if largest > 1:
        return "percent"
    if Decimal(0) < largest < 1:
        return "fraction"
    return None


def tax_units_finding(codes: Sequence[TaxCode], rules: PostingRules) -> Finding:
    shown = tax_rate_unit([c.rate for c in codes])
    ordered = sorted(codes, key=lambda c: (-c.rate, c.code))
    evidence = f"{len(codes)} tax codes: {examples(f'{c.code} {c.rate.normalize():f}' for c in ordered) or 'none'}"
    if shown is None:
        evidence += " (no rate above 0 and below 1, none above 1)"
    return setting_finding(
        "AIQ tax rate units", shown, evidence, "AIQ_PIPELINE_AIQ_TAX_RATE_UNITS", rules.aiq_tax_rate_units
    )
