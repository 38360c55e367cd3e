"""Dismissing and undismissing from the Dagster UI: two jobs whose launchpad takes the documents, the reason and
who does it (the open-source UI does not say who is signed in). They do what the command line does."""

import dagster as dg
from pydantic import Field

from aiq_pipeline.defs.dismissals.dismissal import VIA_UI, DismissRefused, dismiss, undismiss
from aiq_pipeline.defs.names import PairNames
from aiq_pipeline.defs.resources import StoreResource


class DismissConfig(dg.Config):
    keys: list[str] = Field(description="The documents' partition keys, as the exceptions list shows them (8, CN-3)")
    reason: str = Field(description="Why they are handled outside the product (kept in the audit trail)")
    by: str = Field(description="Who dismisses them (kept in the audit trail)")


class UndismissConfig(dg.Config):
    keys: list[str] = Field(description="The dismissed documents' partition keys")
    by: str = Field(description="Who brings them back (kept in the audit trail)")
    reason: str = Field(default="", description="Why (optional)")


def dismissal_jobs(names: PairNames) -> list[dg.JobDefinition]:
    """The pair's two jobs: they dismiss and undismiss among its documents only."""
    assets = names.documents

    @dg.op(description="Takes the documents off the exceptions list; nothing posts them until they are undismissed.")
    def dismiss_documents(context: dg.OpExecutionContext, config: DismissConfig, store: StoreResource) -> None:
        try:
            result = dismiss(
                context.instance,
                store.store(),
                config.keys,
                reason=config.reason,
                by=config.by,
                via=VIA_UI,
                assets=assets,
            )
        except DismissRefused as exc:
            raise dg.Failure(description=str(exc)) from None
        context.log.info(result.render("dismissed"))

    @dg.op(description="Brings dismissed documents back onto the exceptions list.")
    def undismiss_documents(context: dg.OpExecutionContext, config: UndismissConfig, store: StoreResource) -> None:
        reason = config.reason or None
        try:
            result = undismiss(
                context.instance, store.store(), config.keys, by=config.by, reason=reason, via=VIA_UI, assets=assets
            )
        except DismissRefused as exc:
            raise dg.Failure(description=str(exc)) from None
        context.log.info(result.render("undismissed"))

    @dg.job(
        name="dismiss_exceptions",
        description="Dismiss exceptions handled outside the product (booked by hand, a test invoice): they leave the "
        "exceptions list, keep their history, and are never posted until undismissed. Same as "
        "`aiq-pipeline exceptions dismiss KEY... --reason ...`.",
    )
    def dismiss_exceptions() -> None:
        dismiss_documents()

    @dg.job(
        name="undismiss_exceptions",
        description="Bring dismissed exceptions back onto the exceptions list (`aiq-pipeline exceptions undismiss`).",
    )
    def undismiss_exceptions() -> None:
        undismiss_documents()

    return [dismiss_exceptions, undismiss_exceptions]
