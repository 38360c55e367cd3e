"""Posted invoices: one partition per Bunny invoice, posted to AIQ exactly once.

A run may cover a range of partitions (the sensor batches bursts). Each invoice still ends on its own:
the posted ones are MATERIALIZED (an `AssetMaterialization` per partition), the others are FAILED
when the run then raises `dg.Failure`; the reason of each failure is logged as an `AssetObservation` of
its partition, which is what the exceptions list reads.
"""

import os
from collections.abc import Iterator

import dagster as dg

from aiq_pipeline.defs.keys import GL_MAPPING, PERIODS, POSTED_INVOICES, TAX_CODES
from aiq_pipeline.defs.ledger import STORE_POOL
from aiq_pipeline.defs.partitions import bunny_invoices
from aiq_pipeline.defs.posting_events import batch_failure, failure_observation, money, poster_settings
from aiq_pipeline.defs.resources import (
    DEFAULT_BATCH_SIZE,
    AccountsIQResource,
    BunnyResource,
    StoreResource,
    SyncSettings,
)
from aiq_pipeline.service.credit_note_poster import CreditNoteOutcome
from aiq_pipeline.service.invoice_poster import FAILED, InvoicePoster, PostingOutcome
from aiq_pipeline.store import LedgerEntry, utcnow

TOTALS_CHECK = "aiq_totals_match_bunny"
# Pause before a batch with transient failures (AIQ or Bunny not answering) is tried again, in seconds.
TRANSIENT_RETRY_DELAY = float(os.environ.get("AIQ_PIPELINE_TRANSIENT_RETRY_DELAY", "15"))


def posting_metadata(o: PostingOutcome | CreditNoteOutcome) -> dict[str, object]:
    """How the document was dated and converted, when this attempt planned it (not for `already_posted`)."""
    meta: dict[str, object] = {}
    if o.posting_date is not None:
        meta["posting_date"] = o.posting_date.isoformat()
        meta["bunny_issue_date"] = o.bunny_issue_date.isoformat() if o.bunny_issue_date else ""
        meta["posting_date_moved"] = o.posting_date_moved
    if o.exchange_rate is not None:
        meta["exchange_rate"] = str(o.exchange_rate)
        meta["exchange_rate_source"] = o.exchange_rate_source or ""
    return meta


def _materialization_metadata(o: PostingOutcome) -> dict[str, object]:
    meta: dict[str, object] = {
        "outcome": o.outcome,
        "bunny_invoice_number": o.invoice_number or "",
        "customer_code": o.customer_code or "",
        "external_reference": o.external_reference or "",
        "currency": o.currency or "",
        "net": money(o.net) or "",
        "tax": money(o.tax) or "",
        "gross": money(o.gross) or "",
    }
    if o.transaction_id is not None:
        meta |= {
            "aiq_transaction_id": o.transaction_id,
            "aiq_gross": money(o.aiq_gross) or "",
            "totals_match": bool(o.totals_match),
            "customer_created": o.customer_created,
        }
    meta |= posting_metadata(o)
    if o.differences:
        meta["differences"] = "; ".join(o.differences)
    if o.reason:
        meta["note"] = o.reason
    return meta


def _ledger_entry(o: PostingOutcome, run_id: str) -> LedgerEntry:
    return LedgerEntry(
        invoice_id=o.invoice_id,
        outcome=o.outcome,
        invoice_number=o.invoice_number,
        customer_code=o.customer_code,
        external_reference=o.external_reference,
        aiq_transaction_id=o.transaction_id,
        currency=o.currency,
        net=o.net,
        tax=o.tax,
        gross=o.gross,
        aiq_gross=o.aiq_gross,
        reason_code=o.reason_code,
        reason=o.reason,
        fix=o.fix,
        retryable=o.retryable if o.outcome == FAILED else None,
        posted_at=utcnow() if o.transaction_id is not None else None,
        run_id=run_id,
    )


@dg.asset(
    key=POSTED_INVOICES,
    partitions_def=bunny_invoices,
    deps=[GL_MAPPING, TAX_CODES, PERIODS],
    group_name="invoices",
    kinds={"accountsiq", "duckdb"},
    output_required=False,
    pool=STORE_POOL,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=DEFAULT_BATCH_SIZE),
    # Only transient failures (AIQ or Bunny not answering) are retried; data problems wait for a person.
    retry_policy=dg.RetryPolicy(
        max_retries=2, delay=TRANSIENT_RETRY_DELAY, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
    check_specs=[dg.AssetCheckSpec(TOTALS_CHECK, asset=POSTED_INVOICES)],
    description="Each Bunny invoice of the entity, posted to AIQ as a sales invoice (with its customer) exactly once.",
)
def posted_invoices(
    context: dg.AssetExecutionContext,
    accountsiq: AccountsIQResource,
    bunny: BunnyResource,
    store: StoreResource,
    sync_settings: SyncSettings,
) -> Iterator[dg.AssetMaterialization | dg.AssetObservation | dg.AssetCheckResult]:
    keys = context.partition_keys
    outcomes: list[PostingOutcome] = []
    with accountsiq.open() as aiq, bunny.open() as bunny_client:
        poster = InvoicePoster(aiq, bunny_client, **poster_settings(accountsiq, bunny, sync_settings))  # type: ignore[arg-type]
        for key in keys:
            outcome = poster.post(key)
            outcomes.append(outcome)
            if outcome.ok:
                yield dg.AssetMaterialization(
                    asset_key=POSTED_INVOICES, partition=key, metadata=_materialization_metadata(outcome)
                )
            else:
                context.log.warning("invoice %s not posted: [%s] %s", key, outcome.reason_code, outcome.reason)
                yield failure_observation(
                    POSTED_INVOICES, key, outcome, {"bunny_invoice_number": outcome.invoice_number or ""}
                )
        context.log.info("AIQ round trips: %d for %d invoice(s)", aiq.request_count, len(keys))

    store.store().record_invoice_outcomes([_ledger_entry(o, context.run.run_id) for o in outcomes])

    checked = [o for o in outcomes if o.transaction_id is not None]
    mismatched = [o for o in checked if not o.totals_match or o.duplicates]
    yield dg.AssetCheckResult(
        check_name=TOTALS_CHECK,
        passed=not mismatched,
        description=(
            f"AIQ's net, tax and gross equal Bunny's to the cent for all {len(checked)} invoice(s) of this run."
            if not mismatched
            else "AIQ differs from Bunny for: " + ", ".join(o.invoice_id for o in mismatched)
        ),
        metadata={
            "checked": len(checked),
            "mismatched": [o.invoice_id for o in mismatched],
            "details": dg.MetadataValue.md(
                "\n".join(
                    f"- {o.invoice_id}: {'; '.join(o.differences) or ''}"
                    + (f" ({o.duplicates} duplicate AIQ document(s))" if o.duplicates else "")
                    for o in mismatched
                )
                or "none"
            ),
        },
    )

    failed = [o for o in outcomes if not o.ok]
    if failed:
        # Data problems are not retried automatically; a batch with a transient failure is.
        raise batch_failure(
            "invoice",
            len(outcomes),
            [(o.invoice_id, o) for o in failed],
            allow_retries=any(o.retryable for o in failed),
        )
