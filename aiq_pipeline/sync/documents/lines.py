"""Invoice lines as AIQ batch lines: amounts, revenue account and tax code of every line, or why not.

- Amounts: line net = item `amount` (after discount), line tax = item `tax_amount`, both Decimal cents sent
  explicitly, so AIQ never recomputes tax.
- Negative lines: AIQ batch lines must be >= 0 (protocol-notes §4.5).
- Account: the line's price-list charge's account from the GL mapping, else the entity default.
- Tax code: the item's own `tax_code` when AIQ knows it (sent upper case), else the configured default. An explicit
  code AIQ does NOT know fails (UNKNOWN_TAX_CODE) instead of falling back to the default: a finance team would
  rather fix a code than post at the wrong rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from aiq_pipeline.sync.documents.context import PlanContext
from aiq_pipeline.sync.documents.plan import PlannedLine
from aiq_pipeline.sync.documents.rates import HUNDRED, ONE, line_tax_rate
from aiq_pipeline.sync.gl_mapping import account_problem
from aiq_pipeline.sync.identity import invoice_reference
from aiq_pipeline.sync.inputs import BunnyInvoice, BunnyInvoiceItem
from aiq_pipeline.sync.money import ZERO, to_cents
from aiq_pipeline.sync.problems import Problem, ProblemCode

DESCRIPTION_LIMIT = 500  # AIQ: header and line Description not null, <= 500 (protocol-notes §4.5)


def single_line(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    return " ".join(text.split())[:limit].rstrip()


def invoice_label(invoice: BunnyInvoice) -> str:
    return f"Bunny invoice {invoice.number} (id {invoice.id})" if invoice.number else f"Bunny invoice id {invoice.id}"


def line_label(invoice: BunnyInvoice, item: BunnyInvoiceItem) -> str:
    what = f" '{single_line(item.line_text, 60)}'" if item.line_text else ""
    return f"line {item.id}{what} of {invoice_label(invoice)}"


def plan_lines(invoice: BunnyInvoice, ctx: PlanContext) -> tuple[list[PlannedLine], list[Problem]]:
    """Every line of `invoice` as a planned AIQ line, and every problem found on the way."""
    lines: list[PlannedLine] = []
    problems: list[Problem] = []
    default_tax = _DefaultTax(ctx)
    for item in invoice.items:
        label = line_label(invoice, item)
        net, tax = to_cents(item.amount), to_cents(item.tax_amount)
        if net < 0 or tax < 0:
            problems.append(_negative_line(invoice, label, net, tax))
        gl_code, gl_source, found = _account(item, label, ctx)
        problems += found
        tax_code, found = _tax_code(item, label, ctx, default_tax)
        problems += found
        rate = line_tax_rate(item, net, tax)
        if not ZERO <= rate <= ONE:
            problems.append(
                Problem(
                    ProblemCode.INVALID_TAX_RATE,
                    f"{label} has tax rate {rate * HUNDRED}%, outside AIQ's 0-100%.",
                    "Correct the line's tax in Bunny, then retry.",
                )
            )
        text = item.line_text or item.price_list_charge_code or f"Bunny invoice line {item.id}"
        lines.append(
            PlannedLine(
                gl_account_code=gl_code or "",
                tax_code=tax_code,
                description=single_line(text) or f"Bunny invoice line {item.id}",
                net_amount=net,
                tax_rate=rate,
                tax_amount=tax,
                item_id=item.id,
                gl_source=gl_source,
            )
        )
    return lines, problems


def _negative_line(invoice: BunnyInvoice, label: str, net: Decimal, tax: Decimal) -> Problem:
    return Problem(
        ProblemCode.NEGATIVE_LINE,
        f"{label} has net {net} and tax {tax}; AIQ batch invoices accept no negative lines.",
        "Credits belong in a Bunny credit note: void and reissue the invoice without the credit line, "
        f"or post it by hand in AIQ with External Reference {invoice_reference(invoice.id)}.",
    )


def _account(item: BunnyInvoiceItem, label: str, ctx: PlanContext) -> tuple[str | None, str, list[Problem]]:
    """(AIQ account code, where it came from, problems) for one line."""
    mapping = ctx.mapping
    if item.price_list_charge_id is not None:
        row = mapping.for_charge(item.price_list_charge_id)
        if row is None:
            return (
                None,
                "",
                [
                    Problem(
                        ProblemCode.UNMAPPED_CHARGE,
                        f"{label} uses price-list charge {item.price_list_charge_code or item.price_list_charge_id}, "
                        "which is not in the GL mapping snapshot.",
                        "Refresh the GL mapping (materialize it again), then retry.",
                    )
                ],
            )
        if row.problem is not None:
            return None, "", [row.problem]
        return row.account_code, row.source or "", []
    if mapping.default_problem is not None:
        return None, "", [mapping.default_problem]
    code = mapping.default_account_code
    # validate_gl_mapping checked the default already; check again in case the mapping was not validated
    if code is not None and (found := account_problem(code, ctx.ledger.accounts, used_by=label)):
        return None, "", [found]
    return code, "default", []


class _DefaultTax:
    """The configured default tax code, reported once per document when AIQ does not know it."""

    def __init__(self, ctx: PlanContext) -> None:
        self.code = ctx.settings.default_tax_code.strip().upper()
        self.known = self.code in ctx.ledger.tax_codes
        self.reported = False

    def problem(self, label: str) -> list[Problem]:
        if self.known or self.reported:
            return []
        self.reported = True
        return [
            Problem(
                ProblemCode.UNKNOWN_TAX_CODE,
                f"The configured default tax code '{self.code}' (used by {label}, which has none) does not exist in "
                "AIQ.",
                "Set AIQ_DEFAULT_TAX_CODE to a code from AIQ's Taxes list (e.g. V01), then retry.",
            )
        ]


def _tax_code(
    item: BunnyInvoiceItem, label: str, ctx: PlanContext, default: _DefaultTax
) -> tuple[str, Sequence[Problem]]:
    own = (item.tax_code or "").strip().upper()
    if not own:
        return default.code, default.problem(label)
    if own in ctx.ledger.tax_codes:
        return own, []
    return own, [
        Problem(
            ProblemCode.UNKNOWN_TAX_CODE,
            f"{label} carries tax code {own}, which AIQ does not know (the default is not used in its place, so "
            "nothing posts at the wrong rate).",
            f"Create tax code {own} in AIQ (Setup > Codes Maintenance > Taxes) or correct the tax code in Bunny; "
            "then retry.",
        )
    ]
