"""A dry run in words: each document's preview (the exact AIQ documents, or why it would not post) and the summary of
many (counts per outcome and kind, problems by code with their fixes, and the money per month, currency and AIQ
document type that would post).

Pure: previews in, text and JSON-ready dictionaries out. Money stays Decimal, and its exact text in JSON.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from aiq_pipeline.service.aiq_documents import target_name
from aiq_pipeline.service.dry_run import Planned
from aiq_pipeline.service.outcome import Status
from aiq_pipeline.sync.documents.plan import PlannedAllocation, PlannedDocument, PlannedLine
from aiq_pipeline.sync.identity import KIND_ACCOUNT_CREDIT, KIND_CREDIT_NOTE, KIND_INVOICE, KIND_PAYMENT, KIND_VOID
from aiq_pipeline.sync.money import Totals

# Exit codes of the dry runs (preview, preflight, backfill --dry-run); 2 is wrong usage, 4 a settings problem.
EXIT_NOTHING_FAILS = 0
EXIT_SOMETHING_FAILS = 1


class Would(StrEnum):
    """What posting a document would come to now."""

    POST = "would post"
    ALREADY = "already in AIQ"
    NOTHING = "nothing to post"
    WAIT = "would wait"  # not posted yet, retried by itself (an invoice it needs is not in AIQ, a pending payment)
    FAIL = "would fail"  # not posted until a person fixes something
    DISMISSED = "dismissed"  # handled outside the product: never posted until undismissed

    @property
    def fails(self) -> bool:
        """The document would not post and would be on the exceptions list."""
        return self in (Would.WAIT, Would.FAIL)


KIND_NAMES = {
    KIND_INVOICE: "invoice",
    KIND_CREDIT_NOTE: "credit note",
    KIND_VOID: "void",
    KIND_PAYMENT: "payment",
    KIND_ACCOUNT_CREDIT: "account credit",
}


def kind_name(kind: str) -> str:
    return KIND_NAMES.get(kind, kind.replace("_", " "))


def would(planned: Planned) -> Would:
    if planned.dismissed:
        return Would.DISMISSED
    outcome = planned.preview.outcome
    if outcome.status == Status.FAILED:
        return Would.WAIT if outcome.retryable else Would.FAIL
    return {
        Status.POSTED: Would.POST,
        Status.ALREADY_POSTED: Would.ALREADY,
    }.get(outcome.status, Would.NOTHING)


def to_post(planned: Planned) -> list[PlannedDocument]:
    """The AIQ documents the dry run says would be written (none when it would not post, or AIQ holds them)."""
    plan = planned.preview.plan
    if would(planned) != Would.POST or plan is None:
        return []
    return [doc for doc in plan.documents if doc.reference not in planned.preview.already_in_aiq]


# -- one document ------------------------------------------------------------------------------------------------


def percent(rate: Decimal) -> str:
    """A fraction as a percentage, without trailing zeros: 0.23 -> 23%, 0.135 -> 13.5%."""
    text = f"{rate * 100:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


def _line_json(line: PlannedLine) -> dict[str, str]:
    return {
        "gl_account_code": line.gl_account_code,
        "tax_code": line.tax_code,
        "description": line.description,
        "net_amount": str(line.net_amount),
        "tax_rate": str(line.tax_rate),
        "tax_amount": str(line.tax_amount),
        "gl_source": line.gl_source,
    }


def _document_json(doc: PlannedDocument, held: bool) -> dict[str, Any]:
    return {
        "type": str(doc.target),
        "type_name": target_name(doc.target),
        "reference": doc.reference,
        "customer_code": doc.customer_code,
        "date": doc.date.isoformat(),
        "due_date": doc.due_date.isoformat() if doc.due_date else None,
        "period": doc.period_name,
        "financial_year": doc.financial_year,
        "currency": doc.currency_code,
        "exchange_rate": str(doc.exchange_rate),
        "bank_exchange_rate": str(doc.bank_exchange_rate) if doc.bank_exchange_rate is not None else None,
        "description": doc.description,
        "lines": [_line_json(line) for line in doc.lines],
        "net": str(doc.net),
        "tax": str(doc.tax),
        "gross": str(doc.gross),
        "already_in_aiq": held,
    }


def _allocation_json(allocation: PlannedAllocation) -> dict[str, Any]:
    return {
        "source": allocation.source,
        "target": allocation.target,
        "amount": str(allocation.amount) if allocation.amount is not None else None,
        "date": allocation.date.isoformat() if allocation.date else None,
    }


def preview_json(planned: Planned) -> dict[str, Any]:
    preview, outcome = planned.preview, planned.preview.outcome
    plan = preview.plan
    data: dict[str, Any] = {
        "key": planned.key,
        "kind": outcome.kind,
        "number": outcome.number,
        "would": would(planned).value,
        "status": str(outcome.status),
        "dismissed": planned.dismissed,
        "reason_code": outcome.reason_code,
        "reason": outcome.reason,
        "fix": outcome.fix,
        "retryable": outcome.retryable,
        "bunny": {
            "currency": outcome.currency,
            "net": str(outcome.net) if outcome.net is not None else None,
            "tax": str(outcome.tax) if outcome.tax is not None else None,
            "gross": str(outcome.gross) if outcome.gross is not None else None,
        },
        "customer": None,
        "documents": [],
        "allocations": [],
        "notes": [],
        "assumes_posted": list(planned.assumes),
    }
    if plan is not None:
        data["customer"] = {
            "code": plan.customer_code,
            "action": preview.customer or "existing",
            "created_by": planned.customer_created_by,  # created by this document, planned (and posted) first
        }
        data["documents"] = [_document_json(d, d.reference in preview.already_in_aiq) for d in plan.documents]
        data["allocations"] = [_allocation_json(a) for a in plan.allocations]
        data["notes"] = list(plan.notes)
        data["exchange_rate_source"] = plan.exchange_rate_source
    return data


def _customer_words(action: str) -> str:
    if action == "create":
        return "created in AIQ (new customer)"
    if action.startswith("update:"):
        return f"existing in AIQ, updated ({action.removeprefix('update:').strip()})"
    if action.startswith("matched by"):
        return f"existing in AIQ, {action}"
    return "existing in AIQ"


def _title(planned: Planned) -> str:
    outcome = planned.preview.outcome
    number = f" {outcome.number}" if outcome.number else ""
    verdict = would(planned)
    code = f" [{outcome.reason_code}]" if verdict.fails and outcome.reason_code else ""
    return f"{planned.key}{number} ({kind_name(outcome.kind)}): {verdict.value}{code}"


SOURCES = {
    "default": "default revenue account",
    "bad_debt": "bad debt",
    "account_credit": "account credit",
}  # else as is


def _document_lines(doc: PlannedDocument, held: bool, rate_source: str) -> list[str]:
    where = f"period {doc.period_name or '?'} (financial year {doc.financial_year})"
    due = f", due {doc.due_date.isoformat()}" if doc.due_date else ""
    state = " (already in AIQ: not written again)" if held else ""
    bank_rate = f", bank rate {doc.bank_exchange_rate}" if doc.bank_exchange_rate is not None else ""
    lines = [
        f"  {doc.target} {target_name(doc.target)} {doc.reference}{state}",
        f"    customer {doc.customer_code}, dated {doc.date.isoformat()}{due}, {where}",
        f"    {doc.currency_code} at exchange rate {doc.exchange_rate} ({rate_source}){bank_rate}",
    ]
    if doc.description:
        lines.append(f"    description: {doc.description}")
    for line in doc.lines:
        source = f" ({SOURCES.get(line.gl_source, line.gl_source)})" if line.gl_source not in ("charge", "") else ""
        tax = f"tax {line.tax_code} at {percent(line.tax_rate)}" if line.tax_code else "no tax"
        lines.append(
            f"    - GL {line.gl_account_code}{source}  {tax}  net {line.net_amount}  tax {line.tax_amount}  "
            f"{line.description}"
        )
    lines.append(f"    total: net {doc.net}, tax {doc.tax}, gross {doc.gross} {doc.currency_code}")
    return lines


def _allocation_words(allocation: PlannedAllocation) -> str:
    amount = f"{allocation.amount}" if allocation.amount is not None else "what both have outstanding"
    day = f" on {allocation.date.isoformat()}" if allocation.date else ""
    return f"  allocate {allocation.source} against {allocation.target}: {amount}{day}"


def preview_lines(planned: Planned) -> list[str]:
    """The document in words: what would be sent to AIQ, or why nothing would be."""
    preview, outcome = planned.preview, planned.preview.outcome
    lines = [_title(planned)]
    if planned.dismissed:
        lines.append(
            "  dismissed (handled outside the product): nothing posts it until "
            f"`aiq-pipeline exceptions undismiss {planned.key}`; it would send:"
        )
    plan = preview.plan
    if plan is None:
        if outcome.reason:
            lines.append(f"  why: {outcome.reason}")
        if outcome.fix:
            lines.append(f"  fix: {outcome.fix}")
        return lines
    if planned.customer_created_by:
        created = f"created in AIQ by {planned.customer_created_by}, planned first"
        lines.append(f"  customer {plan.customer_code}: {created}")
    else:
        lines.append(f"  customer {plan.customer_code}: {_customer_words(preview.customer)}")
    for doc in plan.documents:
        lines += _document_lines(doc, doc.reference in preview.already_in_aiq, plan.exchange_rate_source)
    lines += [_allocation_words(a) for a in plan.allocations]
    lines += [f"  note: {note}" for note in plan.notes]
    if planned.assumes:
        lines.append(
            f"  planned as if {', '.join(planned.assumes)} (which this dry run would post first) were posted, as the "
            "sync posts invoices first"
        )
    return lines


# -- many documents ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A document that would not post: why and what to do."""

    key: str
    kind: str
    number: str | None
    would: Would
    code: str
    reason: str
    fix: str

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "number": self.number,
            "would": self.would.value,
            "reason_code": self.code,
            "reason": self.reason,
            "fix": self.fix,
        }


@dataclass
class DryRunSummary:
    """Many previews summed up as they come (only counts, totals and the problems are kept)."""

    counts: Counter[tuple[str, Would]] = field(default_factory=Counter)  # (kind, outcome)
    codes: Counter[str] = field(default_factory=Counter)  # problem code -> documents
    problems: list[Problem] = field(default_factory=list)
    money: dict[tuple[str, str, str], Totals] = field(default_factory=dict)  # (YYYY-MM, currency, AIQ type)
    customers_created: set[str] = field(default_factory=set)
    customers_updated: set[str] = field(default_factory=set)
    assumed: int = 0  # documents planned against invoices this dry run would post first

    def add(self, planned: Planned) -> None:
        outcome = planned.preview.outcome
        verdict = would(planned)
        self.counts[(outcome.kind, verdict)] += 1
        if verdict.fails:
            code = outcome.reason_code or "ERROR"
            self.codes[code] += 1
            self.problems.append(
                Problem(
                    planned.key, outcome.kind, outcome.number, verdict, code, outcome.reason or "", outcome.fix or ""
                )
            )
        documents = to_post(planned)
        for doc in documents:
            self.money.setdefault((doc.date.strftime("%Y-%m"), doc.currency_code, str(doc.target)), Totals()).add(doc)
        plan = planned.preview.plan
        if documents and plan is not None:
            action = planned.preview.customer
            if action == "create":
                self.customers_created.add(plan.customer_code)
            elif action.startswith("update:"):
                self.customers_updated.add(plan.customer_code)
            self.assumed += bool(planned.assumes)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def outcome_count(self, verdict: Would) -> int:
        return sum(n for (_, v), n in self.counts.items() if v == verdict)

    @property
    def exit_code(self) -> int:
        return EXIT_SOMETHING_FAILS if self.problems else EXIT_NOTHING_FAILS

    def money_rows(self) -> list[tuple[str, str, str, Totals]]:
        return [(month, currency, target, m) for (month, currency, target), m in sorted(self.money.items())]

    def totals_by_currency(self) -> dict[tuple[str, str], Totals]:
        """(currency, AIQ type) -> the whole range's money."""
        out: dict[tuple[str, str], Totals] = {}
        for (_, currency, target), m in sorted(self.money.items()):
            total = out.setdefault((currency, target), Totals())
            total.count += m.count
            total.net += m.net
            total.tax += m.tax
            total.gross += m.gross
        return out

    # -- words -----------------------------------------------------------------------------------------------------

    def lines(self) -> list[str]:
        if not self.total:
            return ["Nothing to plan: no documents."]
        lines = ["Outcomes:", *self._outcome_table(), ""]
        if self.codes:
            lines.append("Problems by code:")
            lines += [f"  {code:<28} {n:>6}" for code, n in sorted(self.codes.items(), key=lambda c: (-c[1], c[0]))]
            lines.append("")
            lines.append("Would not post:")
            for p in self.problems:
                number = f" {p.number}" if p.number else ""
                lines.append(f"- {p.key}{number} ({kind_name(p.kind)}) [{p.code}] {p.would.value}")
                lines.append(f"    why: {p.reason}")
                if p.fix:
                    lines.append(f"    fix: {p.fix}")
            lines.append("")
        lines += self._money_lines()
        return lines

    def _outcome_table(self) -> list[str]:
        kinds = [k for k in KIND_NAMES if any(kind == k for kind, _ in self.counts)]
        kinds += sorted({kind for kind, _ in self.counts} - set(kinds))
        verdicts = [v for v in Would if self.outcome_count(v)]
        width = max(len(kind_name(k)) for k in kinds)
        header = f"  {'':<16}" + "".join(f" {kind_name(k):>{width}}" for k in kinds) + f" {'total':>{width}}"
        rows = [header]
        for verdict in verdicts:
            cells = "".join(f" {self.counts[(k, verdict)]:>{width}}" for k in kinds)
            rows.append(f"  {verdict.value:<16}{cells} {self.outcome_count(verdict):>{width}}")
        totals = "".join(f" {sum(n for (kind, _), n in self.counts.items() if kind == k):>{width}}" for k in kinds)
        rows.append(f"  {'total':<16}{totals} {self.total:>{width}}")
        return rows

    def _money_lines(self) -> list[str]:
        if not self.money:
            return ["Nothing would be written to AIQ."]
        lines = ["Would be written to AIQ, per month, currency and document type (AIQ posting date):"]
        lines.append(
            f"  {'month':<8} {'cur':<4} {'AIQ document':<30} {'count':>6} {'net':>16} {'tax':>14} {'gross':>16}"
        )
        for month, currency, target, m in self.money_rows():
            lines.append(_money_row(month, currency, target, m))
        lines.append("  totals:")
        for (currency, target), m in self.totals_by_currency().items():
            lines.append(_money_row("", currency, target, m))
        created, updated = len(self.customers_created), len(self.customers_updated)
        lines.append(f"AIQ customers created: {created}; updated: {updated}.")
        if self.assumed:
            lines.append(
                f"{self.assumed} credit note(s) and payment(s) planned against invoices this dry run would post first "
                "(as the sync posts invoices first)."
            )
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "documents": self.total,
            "outcomes": {v.value: self.outcome_count(v) for v in Would if self.outcome_count(v)},
            "outcomes_by_kind": {
                kind: {v.value: n for (k, v), n in sorted(self.counts.items()) if k == kind}
                for kind in dict.fromkeys(k for k, _ in self.counts)
            },
            "problem_codes": dict(sorted(self.codes.items())),
            "problems": [p.as_json() for p in self.problems],
            "money": [
                {
                    "month": month,
                    "currency": currency,
                    "type": target,
                    "type_name": target_name(target),
                    "documents": m.count,
                    "net": str(m.net),
                    "tax": str(m.tax),
                    "gross": str(m.gross),
                }
                for month, currency, target, m in self.money_rows()
            ],
            "customers_created": len(self.customers_created),
            "customers_updated": len(self.customers_updated),
            "planned_against_invoices_posted_first": self.assumed,
            "would_fail": bool(self.problems),
        }


def _money_row(month: str, currency: str, target: str, m: Totals) -> str:
    kind = f"{target} {target_name(target)}"
    return f"  {month:<8} {currency:<4} {kind:<30} {m.count:>6} {m.net:>16} {m.tax:>14} {m.gross:>16}"
