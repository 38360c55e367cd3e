"""The one way to build a document asset: a run posts a range of partitions through the posting service, and each
partition still ends on its own (MATERIALIZED, or FAILED with its reason)."""

from collections.abc import Iterator, Sequence
from datetime import timedelta
from decimal import Decimal

import dagster as dg

from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.defs.posting.documents import DocumentAsset
from aiq_pipeline.defs.posting.events import batch_failure, failure_observation, materialization, totals_check
from aiq_pipeline.defs.posting.run_requests import REWRITE_UNKNOWN_TRIGGER, TRIGGER_TAG
from aiq_pipeline.defs.posting.status import dismissal_marks
from aiq_pipeline.defs.recovery import mark_run_process
from aiq_pipeline.defs.resources import (
    AccountsIQResource,
    BunnyResource,
    PostingRulesResource,
    StoreResource,
    SyncSettings,
)
from aiq_pipeline.service.kinds import KINDS
from aiq_pipeline.service.outcome import Outcome, Status
from aiq_pipeline.service.posting import PostingOptions, PostingService
from aiq_pipeline.service.writes import WRITTEN_AGAIN
from aiq_pipeline.store.journal import PostingJournal
from aiq_pipeline.sync.documents.context import PostingSettings
from aiq_pipeline.sync.problems import ProblemCode
from aiq_pipeline.sync.tax import TaxMappingError

Event = dg.AssetMaterialization | dg.AssetObservation | dg.AssetCheckResult
# Triggers of runs a person started on purpose: only those may re-post a document whose earlier outcome is unknown
# (after looking once more). A run with no trigger tag and no sensor or schedule was launched from the UI.
PERSON_TRIGGERS = frozenset({"retry", REWRITE_UNKNOWN_TRIGGER})
AUTOMATIC_TAGS = ("dagster/sensor_name", "dagster/schedule_name")
REEXECUTION_TAG = "dagster/parent_run_id"  # a re-execution (from the UI, or the daemon's run retries) copies tags


def is_manual(tags: dict[str, str]) -> bool:
    trigger = tags.get(TRIGGER_TAG)
    if trigger is not None:
        return trigger in PERSON_TRIGGERS
    return not any(tag in tags for tag in AUTOMATIC_TAGS)


def rewrites_unknown(tags: dict[str, str]) -> bool:
    """A person's explicit override, for the run it started only: write again a document whose earlier write is in
    doubt even though AIQ's look-up is not shown to have caught up. A re-execution of that run (which copies its
    tags) is not that person's word: it is a plain retry."""
    return tags.get(TRIGGER_TAG) == REWRITE_UNKNOWN_TRIGGER and REEXECUTION_TAG not in tags


def document_asset(
    names: PairNames, asset: DocumentAsset, *, batch_size: int, retry_delay: float
) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset.key,
        partitions_def=asset.partitions,
        deps=[names.gl_mapping, names.tax_codes, names.periods],
        group_name=asset.group,
        kinds={"accountsiq"},
        output_required=False,
        pool=names.store_pool,
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=batch_size),
        retry_policy=dg.RetryPolicy(
            max_retries=2, delay=retry_delay, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
        ),
        check_specs=[dg.AssetCheckSpec(asset.check_name, asset=asset.key)],
        description=asset.description,
    )
    def _document_asset(
        context: dg.AssetExecutionContext,
        accountsiq: AccountsIQResource,
        bunny: BunnyResource,
        store: StoreResource,
        sync_settings: SyncSettings,
        posting_rules: PostingRulesResource,
    ) -> Iterator[Event]:
        yield from post_partitions(context, asset, accountsiq, bunny, store, sync_settings, posting_rules)

    return _document_asset


def post_partitions(
    context: dg.AssetExecutionContext,
    asset: DocumentAsset,
    accountsiq: AccountsIQResource,
    bunny: BunnyResource,
    store: StoreResource,
    sync: SyncSettings,
    rules: PostingRulesResource,
) -> Iterator[Event]:
    mark_run_process(context)
    keys = _not_dismissed(context, asset, context.partition_keys)
    outcomes: list[Outcome] = []
    try:
        settings = posting_settings(accountsiq, bunny, sync, rules)
    except TaxMappingError as exc:  # every document would post at unknown rates: each says why, nothing is sent
        yield from _refused(context, asset, keys, exc)
        return
    options = posting_options(sync, rules)
    tags = dict(context.run.tags)
    rewrite = rewrites_unknown(tags)
    if rewrite:
        context.log.warning(
            "a person's explicit override (retry --rewrite-unknown-may-duplicate): a document whose earlier write is "
            "in doubt and which AIQ's look-up does not show is written again, whether or not AIQ holds it"
        )
    with accountsiq.open() as aiq, bunny.open() as bunny_client, store.store().session() as session:
        service = PostingService(
            aiq,
            bunny_client,
            PostingJournal(session, accountsiq.entity_id),
            settings=settings,
            owner=context.run.run_id,
            kinds={name: KINDS[name] for name in asset.kinds},
            options=options,
            manual=is_manual(tags),
            rewrite_unknown=rewrite,
            customer_rules=rules.customer_match,
        )
        for outcome in service.post_many(keys):
            outcomes.append(outcome)
            if outcome.ok:
                if again := outcome.details.get(WRITTEN_AGAIN):
                    context.log.warning(
                        "%s: a write in doubt written again on a person's retry: %s", outcome.key, again
                    )
                yield materialization(asset, outcome)
            else:
                context.log.warning("%s not posted: [%s] %s", outcome.key, outcome.reason_code, outcome.reason)
                yield failure_observation(asset, outcome)
        context.log.info("AIQ round trips: %d for %d %s(s)", aiq.request_count, len(keys), asset.noun)
    yield totals_check(asset, outcomes)
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise batch_failure(asset, len(outcomes), failed)


def _not_dismissed(context: dg.AssetExecutionContext, asset: DocumentAsset, keys: Sequence[str]) -> list[str]:
    """A dismissed document is never posted, not even from the UI, until it is undismissed."""
    marks = dismissal_marks(context.instance, asset, keys)
    dismissed = [key for key in keys if key in marks and marks[key].dismissed]
    if dismissed:
        context.log.warning(
            "dismissed (handled outside the product), not posted: %s; undismiss them first "
            "(aiq-pipeline exceptions undismiss KEY...)",
            " ".join(dismissed),
        )
    return [key for key in keys if key not in dismissed]


def posting_settings(
    accountsiq: AccountsIQResource, bunny: BunnyResource, sync: SyncSettings, rules: PostingRulesResource
) -> PostingSettings:
    """What the planners need from the resources (TaxMappingError when the tax mapping file is wrong)."""
    return PostingSettings(
        bunny_entity_id=bunny.entity_id,
        default_tax_code=accountsiq.default_tax_code,
        closed_period_policy=sync.closed_period_policy,
        tax_mapping=rules.tax_mapping(),
        readings=rules.readings(),
        rounding_tolerance=Decimal(rules.rounding_tolerance),
        rounding_account=rules.rounding_account,
        bad_debt=rules.bad_debt(),
        post_zero_value=rules.post_zero_value,
        payments=rules.payments(),
    )


def posting_options(sync: SyncSettings, rules: PostingRulesResource) -> PostingOptions:
    """How the posting service writes, from the resources."""
    return PostingOptions(
        unknown_outcome_deadline=timedelta(seconds=sync.unknown_outcome_deadline_seconds),
        claim_lease=timedelta(seconds=sync.claim_lease_seconds),
        aiq_tax_rate_units=rules.aiq_tax_rate_units,
        concurrency=sync.concurrency,
    )


def _refused(
    context: dg.AssetExecutionContext, asset: DocumentAsset, keys: list[str], error: Exception
) -> Iterator[Event]:
    failed = [
        Outcome(
            key,
            "unknown",
            Status.FAILED,
            reason_code=str(ProblemCode.TAX_MAPPING_INVALID),
            reason=str(error),
            fix="Correct the tax mapping file (AIQ_PIPELINE_TAX_MAPPING), then retry.",
        )
        for key in keys
    ]
    for outcome in failed:
        yield failure_observation(asset, outcome)
    context.log.error("nothing posted: %s", error)
    raise batch_failure(asset, len(failed), failed)
