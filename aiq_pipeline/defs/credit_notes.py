"""Posted credit notes: one partition per Bunny credit note (`CN-<id>`) or voided posted invoice (`VOID-<id>`).

The asset works like the invoice asset: a run may cover a range of partitions; each key ends MATERIALIZED
(posted, already posted or skipped) or FAILED, with its reason logged as an `AssetObservation` of its
partition (what the exceptions list reads; the observation also names the credited invoice, which the sensor
uses to retry credit notes that waited for it).

The sensor `released_credit_notes_sensor` (STOPPED by default like the invoice sensor; RUNNING when
AIQ_PIPELINE_SENSOR_DEFAULT=RUNNING; never touches the store) adds:

- every issued credit note of the entity, once its invoice's partition is no longer in flight: when the
  invoice partition is MATERIALIZED, FAILED or absent the key is added and run (it posts, or waits visibly as
  INVOICE_NOT_POSTED); while it is added-but-unfinished the note is deferred in the cursor to a later tick, so
  a note released together with its invoice does not fail once for nothing;
- every voided invoice whose invoice partition is MATERIALIZED (it was posted, or skipped as voided: the asset
  finds out which and reverses or skips). A voided invoice whose partition is not finished yet is deferred; one
  with no partition at all was voided before the sync saw it, so it never reaches AIQ and gets nothing;
- runs again the credit notes FAILED as INVOICE_NOT_POSTED whose invoice partition has since MATERIALIZED.

Deferred ids live in the cursor; a lost cursor rescans Bunny from the start, which finds them again (known keys
are dropped by comparing sets), so nothing is lost with it.
"""

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from aiq_pipeline.defs.invoices import TRANSIENT_RETRY_DELAY, posting_metadata
from aiq_pipeline.defs.keys import GL_MAPPING, PERIODS, POSTED_INVOICES, TAX_CODES
from aiq_pipeline.defs.ledger import STORE_POOL
from aiq_pipeline.defs.partitions import INVOICE_PARTITIONS_NAME, bunny_invoices
from aiq_pipeline.defs.posting_events import batch_failure, failure_observation, money, poster_settings
from aiq_pipeline.defs.resources import DEFAULT_BATCH_SIZE, AccountsIQResource, BunnyResource, SyncSettings
from aiq_pipeline.defs.sensors import TRIGGER_TAG, default_sensor_status
from aiq_pipeline.service.credit_note_poster import INVOICE_NOT_POSTED, CreditNoteOutcome, CreditNotePoster
from aiq_pipeline.service.discovery import batches, is_valid_partition_key
from aiq_pipeline.sync.credit_note_posting import ISSUED_CREDIT_NOTE_STATES, credit_note_key, void_key

CREDIT_NOTE_PARTITIONS_NAME = "bunny_credit_notes"  # the storage key: never rename it
bunny_credit_notes = dg.DynamicPartitionsDefinition(name=CREDIT_NOTE_PARTITIONS_NAME)
POSTED_CREDIT_NOTES = dg.AssetKey(["aiq", "posted_credit_notes"])
CREDIT_TOTALS_CHECK = "aiq_credit_totals_match_bunny"
MATERIALIZED = dg.AssetPartitionStatus.MATERIALIZED


def _metadata(o: CreditNoteOutcome) -> dict[str, object]:
    meta: dict[str, object] = {
        "outcome": o.outcome,
        "kind": o.kind,
        "bunny_number": o.number or "",
        "credited_invoice_id": o.credited_invoice_id or "",
        "customer_code": o.customer_code or "",
        "external_reference": o.external_reference or "",
        "net": money(o.net),
        "tax": money(o.tax),
        "gross": money(o.gross),
    }
    if o.transaction_id is not None:
        meta |= {
            "aiq_transaction_id": o.transaction_id,
            "aiq_invoice_transaction_id": o.invoice_transaction_id or 0,
            "aiq_gross": money(o.aiq_gross),
            "allocated": money(o.allocated),
            "totals_match": bool(o.totals_match),
        }
    meta |= posting_metadata(o)
    if o.reason:
        meta["note"] = o.reason
    return meta


@dg.asset(
    key=POSTED_CREDIT_NOTES,
    partitions_def=bunny_credit_notes,
    deps=[GL_MAPPING, TAX_CODES, PERIODS],
    group_name="invoices",
    kinds={"accountsiq"},
    output_required=False,
    pool=STORE_POOL,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=DEFAULT_BATCH_SIZE),
    retry_policy=dg.RetryPolicy(
        max_retries=2, delay=TRANSIENT_RETRY_DELAY, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
    check_specs=[dg.AssetCheckSpec(CREDIT_TOTALS_CHECK, asset=POSTED_CREDIT_NOTES)],
    description="Each Bunny credit note, and each reversal of an invoice voided after posting, posted to AIQ as a "
    "sales credit note exactly once and allocated against the credited invoice.",
)
def posted_credit_notes(
    context: dg.AssetExecutionContext,
    accountsiq: AccountsIQResource,
    bunny: BunnyResource,
    sync_settings: SyncSettings,
) -> Iterator[dg.AssetMaterialization | dg.AssetObservation | dg.AssetCheckResult]:
    keys = context.partition_keys
    outcomes: list[CreditNoteOutcome] = []
    with accountsiq.open() as aiq, bunny.open() as bunny_client:
        poster = CreditNotePoster(aiq, bunny_client, **poster_settings(accountsiq, bunny, sync_settings))  # type: ignore[arg-type]
        for key in keys:
            outcome = poster.post(key)
            outcomes.append(outcome)
            if outcome.ok:
                yield dg.AssetMaterialization(asset_key=POSTED_CREDIT_NOTES, partition=key, metadata=_metadata(outcome))
            else:
                context.log.warning("%s not posted: [%s] %s", key, outcome.reason_code, outcome.reason)
                yield failure_observation(
                    POSTED_CREDIT_NOTES,
                    key,
                    outcome,
                    {
                        "kind": outcome.kind,
                        "bunny_number": outcome.number or "",
                        "credited_invoice_id": outcome.credited_invoice_id or "",
                    },
                )
        context.log.info("AIQ round trips: %d for %d credit note(s)", aiq.request_count, len(keys))

    checked = [o for o in outcomes if o.transaction_id is not None]
    mismatched = [o for o in checked if not o.totals_match or o.duplicates]
    yield dg.AssetCheckResult(
        check_name=CREDIT_TOTALS_CHECK,
        passed=not mismatched,
        description=f"AIQ equals Bunny to the cent for {len(checked)} credit note(s)"
        if not mismatched
        else "AIQ differs from Bunny for: " + ", ".join(o.key for o in mismatched),
        metadata={"checked": len(checked), "mismatched": [o.key for o in mismatched]},
    )
    failed = [o for o in outcomes if not o.ok]
    if failed:
        # Only AIQ/Bunny not answering is retried at once; a credit note waiting for its invoice is retried
        # by the sensor when the invoice's partition materializes (an immediate retry would just wait again).
        raise batch_failure(
            "credit note",
            len(outcomes),
            [(o.key, o) for o in failed],
            allow_retries=any(o.reason_code == "TRANSIENT" for o in failed),
        )


# -- the sensor ------------------------------------------------------------------------------------------


@dataclass
class CreditCursor:
    notes_watermark: datetime | None = None
    voids_watermark: datetime | None = None
    deferred_notes: dict[str, str] = field(default_factory=dict)  # credit note id -> credited invoice id
    deferred_voids: list[str] = field(default_factory=list)  # voided invoice ids

    @classmethod
    def parse(cls, raw: str | None) -> "CreditCursor":
        if not raw:
            return cls()
        data = json.loads(raw)

        def moment(name: str) -> datetime | None:
            return datetime.fromisoformat(data[name]) if data.get(name) else None

        return cls(
            notes_watermark=moment("notes_watermark"),
            voids_watermark=moment("voids_watermark"),
            deferred_notes=dict(data.get("deferred_notes") or {}),
            deferred_voids=list(data.get("deferred_voids") or []),
        )

    def serialize(self) -> str:
        return json.dumps(
            {
                "notes_watermark": self.notes_watermark.isoformat() if self.notes_watermark else None,
                "voids_watermark": self.voids_watermark.isoformat() if self.voids_watermark else None,
                "deferred_notes": self.deferred_notes,
                "deferred_voids": self.deferred_voids,
            }
        )


def credit_note_run_request(
    keys: Sequence[str], *, run_key: str | None = None, trigger: str = "sensor"
) -> dg.RunRequest:
    """One run posting `keys`, which must be contiguous in the partition order (a range)."""
    tags = {TRIGGER_TAG: trigger}
    if len(keys) == 1:
        return dg.RunRequest(run_key=run_key, asset_selection=[POSTED_CREDIT_NOTES], partition_key=keys[0], tags=tags)
    tags |= {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    return dg.RunRequest(run_key=run_key, asset_selection=[POSTED_CREDIT_NOTES], tags=tags)


def waiting_credit_notes(instance: dg.DagsterInstance, failed: Sequence[str]) -> dict[str, tuple[str, int]]:
    """FAILED keys whose last attempt waited for their invoice: key -> (invoice id, observation id)."""
    if not failed:
        return {}
    latest: dict[str, dg.EventLogRecord] = {}
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=POSTED_CREDIT_NOTES, asset_partitions=list(failed)), limit=len(failed) * 20
    ).records
    for record in records:  # newest first
        if record.partition_key and record.partition_key not in latest:
            latest[record.partition_key] = record
    waiting = {}
    for key, record in latest.items():
        meta = dict(record.asset_observation.metadata) if record.asset_observation else {}
        code = getattr(meta.get("reason_code"), "value", None)
        invoice = getattr(meta.get("credited_invoice_id"), "value", None)
        if code == INVOICE_NOT_POSTED and invoice:
            waiting[key] = (str(invoice), record.storage_id)
    return waiting


@dg.sensor(
    name="released_credit_notes_sensor",
    asset_selection=[POSTED_CREDIT_NOTES],
    minimum_interval_seconds=30,
    default_status=default_sensor_status(),
    description="Adds a partition per issued Bunny credit note and per voided posted invoice, and posts them.",
)
def released_credit_notes_sensor(
    context: dg.SensorEvaluationContext, bunny: BunnyResource, sync_settings: SyncSettings
) -> dg.SensorResult | dg.SkipReason:
    cursor = CreditCursor.parse(context.cursor)
    instance = context.instance
    overlap = timedelta(minutes=sync_settings.overlap_minutes)
    known = set(instance.get_dynamic_partitions(CREDIT_NOTE_PARTITIONS_NAME))
    invoice_keys = instance.get_dynamic_partitions(INVOICE_PARTITIONS_NAME)
    invoice_status = instance.get_status_by_partition(POSTED_INVOICES, invoice_keys, bunny_invoices) or {}
    invoice_known = set(invoice_keys)

    def in_flight(invoice_id: str) -> bool:
        return invoice_id in invoice_known and invoice_status.get(invoice_id) not in (
            MATERIALIZED,
            dg.AssetPartitionStatus.FAILED,
        )

    with bunny.open() as client:
        since = cursor.notes_watermark - overlap if cursor.notes_watermark else None
        notes = list(client.iter_credit_notes(bunny.entity_id, updated_since=since))
        void_since = cursor.voids_watermark - overlap if cursor.voids_watermark else None
        voided = list(client.iter_invoice_refs(bunny.entity_id, updated_since=void_since, states=["VOIDED"]))

    candidates = dict(cursor.deferred_notes)
    for note in sorted(notes, key=lambda n: (n.updated_at, n.id)):
        if note.state in ISSUED_CREDIT_NOTE_STATES and credit_note_key(note.id) not in known:
            candidates.setdefault(note.id, note.credited_invoice_id or "")
    new_keys: list[str] = []
    deferred_notes: dict[str, str] = {}
    for note_id, invoice_id in candidates.items():
        key = credit_note_key(note_id)
        if key in known or key in new_keys:
            continue
        if not is_valid_partition_key(key):
            context.log.error("credit note id %r cannot be a partition key; not synced", note_id)
        elif invoice_id and in_flight(invoice_id):
            deferred_notes[note_id] = invoice_id
        else:
            new_keys.append(key)

    deferred_voids: list[str] = []
    void_ids = list(dict.fromkeys([*cursor.deferred_voids, *(r.id for r in voided if r.state == "VOIDED")]))
    for invoice_id in void_ids:
        key = void_key(invoice_id)
        if key in known or key in new_keys or invoice_id not in invoice_known:
            continue  # no invoice partition: voided before the sync saw it, never posted
        if invoice_status.get(invoice_id) == MATERIALIZED:
            if is_valid_partition_key(key):
                new_keys.append(key)
        else:
            deferred_voids.append(invoice_id)

    failed = [
        k
        for k, s in (
            instance.get_status_by_partition(POSTED_CREDIT_NOTES, sorted(known), bunny_credit_notes) or {}
        ).items()
        if s == dg.AssetPartitionStatus.FAILED
    ]
    ready_again = {
        key: observation
        for key, (invoice_id, observation) in waiting_credit_notes(instance, failed).items()
        if invoice_status.get(invoice_id) == MATERIALIZED
    }

    next_cursor = CreditCursor(
        notes_watermark=max(filter(None, [cursor.notes_watermark, *(n.updated_at for n in notes)]), default=None),
        voids_watermark=max(filter(None, [cursor.voids_watermark, *(r.updated_at for r in voided)]), default=None),
        deferred_notes=deferred_notes,
        deferred_voids=deferred_voids,
    )
    runs = [
        credit_note_run_request(chunk, run_key=f"credit:{chunk[0]}-{chunk[-1]}:{len(chunk)}")
        for chunk in batches(new_keys, sync_settings.batch_size)
    ]
    # One run per waiting key: they are not contiguous. The run key (per failure) stops a repeat.
    runs += [credit_note_run_request([k], run_key=f"wait:{k}:{obs}") for k, obs in sorted(ready_again.items())]
    if not runs:
        return dg.SensorResult(
            cursor=next_cursor.serialize(),
            skip_reason=dg.SkipReason(
                f"no new credit notes or voids ({len(deferred_notes) + len(deferred_voids)} waiting for invoices)"
            ),
        )
    context.log.info("%d new credit note/void key(s), %d retried after their invoice", len(new_keys), len(ready_again))
    return dg.SensorResult(
        dynamic_partitions_requests=[bunny_credit_notes.build_add_request(new_keys)] if new_keys else [],
        run_requests=runs,
        cursor=next_cursor.serialize(),
    )
