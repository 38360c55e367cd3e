"""A document's outcome in words: what Bunny says of it, what AIQ holds, and, when it did not post, why and what to
do. Every kind's outcomes are written here the same way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from aiq_pipeline.accountsiq.errors import AiqError, AiqThrottledError, AiqTransportError
from aiq_pipeline.bunny.errors import BunnyError
from aiq_pipeline.service import aiq_documents
from aiq_pipeline.service.kinds import Facts
from aiq_pipeline.service.lookups import DuplicateInAiq
from aiq_pipeline.service.outcome import Outcome, Reason, Status
from aiq_pipeline.service.override import REWRITE_UNKNOWN_FLAG
from aiq_pipeline.service.writes import OutcomeUnknown, Witness
from aiq_pipeline.store.database import utcnow
from aiq_pipeline.store.journal import ClaimLost, OutcomeRecord, PostingJournal
from aiq_pipeline.sync.documents.context import BunnyReadings
from aiq_pipeline.sync.documents.plan import PostingPlan
from aiq_pipeline.sync.money import signed_sum, to_cents
from aiq_pipeline.sync.problems import PreflightFailed
from aiq_pipeline.sync.reconciliation import PostedTotals

TRANSIENT_FIX = "Nothing to fix in the data: retry later (the sync retries automatically a few times)."


def with_facts(base: Outcome, facts: Facts, readings: BunnyReadings) -> Outcome:
    """`base` with what the Bunny document says of itself, its totals read this tenant's way (as the planner reads
    them), so that the totals check compares like with like."""
    net, tax, gross = readings.document_totals(facts.net, facts.tax, facts.gross, facts.credits)
    return replace(
        base,
        number=facts.number,
        customer_code=facts.customer_code,
        external_reference=facts.external_reference,
        currency=facts.currency,
        net=net,
        tax=tax,
        gross=gross,
    )


@dataclass(frozen=True)
class PlanTotals:
    """What AIQ holds of a plan's documents combined, signed as Bunny's document is (`sync.money.signed_sum`)."""

    net: Decimal
    tax: Decimal
    gross: Decimal
    described: str  # which documents, how: "BUNNY-INV-28 less BUNNY-INVCR-28"


def combined(parts: Sequence[tuple[bool, str, PostedTotals]]) -> PlanTotals:
    """`parts` (whether of the kind's own type, reference, AIQ's totals as read: magnitudes) as one signed total."""
    words = [
        (("" if own else "minus ") if i == 0 else ("plus " if own else "less ")) + reference
        for i, (own, reference, _) in enumerate(parts)
    ]
    total = signed_sum((own, totals) for own, _, totals in parts)
    return PlanTotals(net=total.net, tax=total.tax, gross=total.gross, described=" ".join(words))


def verified(
    base: Outcome,
    transaction_id: int,
    posted: PostedTotals,
    *,
    sent: Decimal | None = None,
    plan: PlanTotals | None = None,
) -> Outcome:
    """`base` with AIQ's totals and whether they equal Bunny's (or, when Bunny gives none, what was sent) to the
    cent. `posted` is AIQ's main document (transaction `transaction_id`); when the plan is more than it (a remainder
    credit note) or is signed against Bunny's document (an invoice that is a credit note alone), Bunny's totals are
    compared with `plan`, what AIQ holds of the plan combined."""
    aiq: PostedTotals | PlanTotals = posted if plan is None else plan
    of = "" if plan is None else f" ({plan.described})"
    differences = [
        f"{name}: Bunny {to_cents(bunny)}, AIQ {value}{of}"
        for name, bunny, value in (
            ("net", base.net, aiq.net),
            ("tax", base.tax, aiq.tax),
            ("gross", base.gross, aiq.gross),
        )
        if bunny is not None and to_cents(bunny) != value
    ]
    if base.gross is None and sent is not None and to_cents(sent) != posted.gross:
        differences.append(f"gross: sent {to_cents(sent)}, AIQ {posted.gross}")
    return replace(
        base,
        transaction_id=transaction_id,
        aiq_gross=posted.gross,
        totals_match=not differences,
        differences=tuple(differences),
    )


def existing_outcome(checked: Outcome) -> Outcome:
    return replace(checked, status=Status.ALREADY_POSTED)


def plan_details(plan: PostingPlan) -> dict[str, str]:
    main = plan.main
    details = {
        "posting_date": main.date.isoformat(),
        "bunny_issue_date": plan.bunny_issue_date.isoformat() if plan.bunny_issue_date else "",
        "posting_date_moved": str(plan.posting_date_moved).lower(),
        "exchange_rate": str(main.exchange_rate),
        "exchange_rate_source": plan.exchange_rate_source,
    }
    if len(plan.documents) > 1:
        details["aiq_documents"] = ", ".join(d.reference for d in plan.documents)
    return details


def unknown(base: Outcome, exc: OutcomeUnknown, journal: PostingJournal) -> Outcome:
    """OUTCOME_UNKNOWN: recorded in the journal, never written again by an automatic run, nor by a person's retry
    while AIQ's look-up is not shown to have caught up past its sending (no witness), unless the person says so."""
    sent = exc.entry.sent_at if exc.entry else None
    when = _when(sent) if sent else "earlier"
    what = exc.write.summary or exc.write.reference
    looking = f"{aiq_documents.target_name(exc.write.target)} with External Reference {exc.write.reference}"
    if exc.witness is not None:
        return _not_caught_up(base, exc, exc.witness, journal, when=when, what=what, looking=looking)
    detail = (
        f"AIQ did not confirm the {what}, sent {when}, and it is not in AIQ after looking for "
        f"{int(exc.looked_for.total_seconds())} s."
    )
    journal.record_unknown(exc.write, detail)
    fix = (
        f"Look in AIQ for a {looking}. Then retry it (aiq-pipeline retry {_retried(base, exc)}): the retry looks once "
        "more and "
        "records it if AIQ holds it; if not, it posts it once AIQ's look-up shows a document written after it. "
        "Automatic retries never post it again."
    )
    return replace(base, reason_code=Reason.OUTCOME_UNKNOWN, reason=detail, fix=fix, retryable=False)


def _retried(base: Outcome, exc: OutcomeUnknown) -> str:
    """What to retry: the document, or first the one whose write is in doubt (a credit note's invoice)."""
    owner = exc.write.claim_key
    return base.key if not owner or owner == base.key else f"{owner}, whose write it is, then {base.key}"


def _not_caught_up(
    base: Outcome, exc: OutcomeUnknown, witness: Witness, journal: PostingJournal, *, when: str, what: str, looking: str
) -> Outcome:
    """A person's retry that did not write: AIQ's look-up does not show the document, but is not shown to have
    caught up with writes made after it was sent either, so its "not found" proves nothing."""
    later = witness.entry
    sent = exc.entry.sent_at if exc.entry else None
    if later is None or later.sent_at is None or sent is None or later.sent_at <= sent:
        behind = "no document of this type has been written and confirmed by AIQ since, to show that it has"
    elif witness.shown:
        behind = f"{later.reference}, sent {_when(later.sent_at)}, is shown, but was sent too soon after it to prove it"
    else:
        behind = f"{later.reference}, sent {_when(later.sent_at)}, after it, is not shown by it yet either"
    detail = (
        f"AIQ did not confirm the {what}, sent {when}, and AIQ's look-up still does not show it. But AIQ's look-up "
        f"has not yet caught up with writes made after this one was sent ({behind}), so the product cannot tell "
        "whether AIQ holds it, and wrote nothing."
    )
    journal.record_unknown(exc.write, detail)
    fix = (
        f"Look in AIQ's own screens for a {looking}. If AIQ holds it, or you cannot tell: wait, and retry later "
        f"(aiq-pipeline retry {_retried(base, exc)}); once AIQ's look-up shows a document written after it, the retry "
        f"records it if AIQ holds it, else posts it. Only if AIQ truly does not hold it: aiq-pipeline retry "
        f"{exc.write.claim_key or base.key} {REWRITE_UNKNOWN_FLAG} writes it anyway (AIQ then holds two if it did "
        "hold it)."
    )
    details = {"in_doubt_since": when}
    if later is not None:
        details |= {"newest_confirmed_write": later.reference, "newest_confirmed_write_shown": str(witness.shown)}
    return replace(
        base,
        reason_code=Reason.OUTCOME_UNKNOWN,
        reason=detail,
        fix=fix,
        retryable=False,
        details={**base.details, **details},
    )


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def duplicate(base: Outcome, exc: DuplicateInAiq) -> Outcome:
    """A contradiction of exactly once, seen while posting: an exception for a person, never retried by itself."""
    ids = ", ".join(str(i) for i in exc.transaction_ids)
    return replace(
        base,
        reason_code=Reason.DUPLICATE_IN_AIQ,
        reason=f"AIQ holds {len(exc.transaction_ids)} documents with External Reference {exc.reference} "
        f"(transaction ids {ids}); there must be one.",
        fix="In AIQ, reverse all but one of them with a credit note (keep the one the posting journal names, if "
        "any: aiq-pipeline journal --document " + exc.reference + "), then retry this document.",
        duplicates=len(exc.transaction_ids) - 1,
        retryable=False,
    )


def failure(base: Outcome, exc: ClaimLost | BunnyError | AiqError) -> Outcome:
    """The outcome for an error that stopped this document (what the Bunny document says is kept)."""
    if isinstance(exc, ClaimLost):
        return replace(
            base,
            reason_code=Reason.BEING_POSTED,
            reason=f"{exc}; this run stopped before writing.",
            fix="Nothing to do: the run that took it over posts it.",
            retryable=True,
        )
    if isinstance(exc, BunnyError):
        if exc.retryable:
            return _transient(base, exc, "Bunny")
        return replace(
            base,
            reason_code=Reason.BUNNY_ERROR,
            reason=f"Bunny refused a read: {exc}",
            fix="Check the Bunny API client's scopes and the BUNNY_* settings (aiq-pipeline doctor).",
        )
    if isinstance(exc, AiqThrottledError | AiqTransportError):
        return _transient(base, exc, "AccountsIQ")
    return replace(
        base,
        reason_code=exc.code or Reason.AIQ_ERROR,
        reason=f"AccountsIQ refused: {exc}",
        fix="Check the AIQ settings with `aiq-pipeline doctor`, then retry.",
    )


def _transient(base: Outcome, exc: Exception, where: str) -> Outcome:
    return replace(
        base,
        reason_code=Reason.TRANSIENT,
        reason=f"{where} did not answer properly ({exc}).",
        fix=TRANSIENT_FIX,
        retryable=True,
    )


def preflight(base: Outcome, exc: PreflightFailed) -> Outcome:
    return replace(
        base,
        reason_code=str(exc.problems[0].code),
        reason=" ".join(p.message for p in exc.problems),
        fix=" ".join(dict.fromkeys(p.fix for p in exc.problems)),
    )


def record(outcome: Outcome, run_id: str) -> OutcomeRecord:
    posted = outcome.status in (Status.POSTED, Status.ALREADY_POSTED)
    return OutcomeRecord(
        claim_key=outcome.key,
        kind=outcome.kind,
        outcome=str(outcome.status),
        source_id=outcome.source_id,
        number=outcome.number,
        customer_code=outcome.customer_code,
        external_reference=outcome.external_reference,
        aiq_transaction_id=outcome.transaction_id,
        currency=outcome.currency,
        net=outcome.net,
        tax=outcome.tax,
        gross=outcome.gross,
        aiq_gross=outcome.aiq_gross,
        reason_code=outcome.reason_code,
        reason=outcome.reason,
        fix=outcome.fix,
        retryable=outcome.retryable if outcome.status == Status.FAILED else None,
        posted_at=utcnow() if posted else None,
        run_id=run_id,
    )
