"""`sync`, `retry` and `backfill` exit non-zero whenever anything they touched failed, was interrupted, or the
reconciliation they print differs: a scheduler, a cron job or a person scanning for failures cannot miss it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner

from aiq_pipeline.accountsiq import AccountsIQClient, BatchLine, BatchSalesInvoice
from aiq_pipeline.cli import main
from aiq_pipeline.defs.posting.status import DocumentException
from aiq_pipeline.operations.runs import EXIT_DOCUMENTS_FAILED, EXIT_OK, EXIT_RECONCILIATION_DIFFERS, SyncSummary
from aiq_pipeline_tests.pipeline.conftest import AIQ_CLIENT, AIQ_ENTITY, Stack
from aiq_pipeline_tests.pipeline.test_full_cycle import _cli_env


def _exception(code: str) -> DocumentException:
    return DocumentException("7", "invoice", code, "why", "fix", True, None, None)


def test_exit_codes_say_what_went_wrong() -> None:
    assert SyncSummary(posted=["1"]).exit_code == EXIT_OK == 0
    assert SyncSummary(failed=[_exception("INTERRUPTED")]).exit_code == EXIT_DOCUMENTS_FAILED == 1
    assert SyncSummary(reconciliation_failed=["2026-06: 1 differs"]).exit_code == EXIT_RECONCILIATION_DIFFERS == 3
    both = SyncSummary(failed=[_exception("OUTCOME_UNKNOWN")], reconciliation_failed=["2026-06"])
    assert both.exit_code == EXIT_DOCUMENTS_FAILED  # the failed documents explain the difference


@pytest.mark.slow
def test_sync_exits_3_when_everything_posted_but_aiq_differs_from_bunny(stack: Stack, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _cli_env(stack, monkeypatch)
    stack.fix_demo_data()
    clean = CliRunner().invoke(main, ["sync"])
    assert clean.exit_code == 0, clean.output
    # Someone books an invoice by hand under one of our references, for a Bunny invoice that does not exist.
    with AccountsIQClient(
        entity_id=AIQ_ENTITY,
        client_id=AIQ_CLIENT[0],
        client_secret=AIQ_CLIENT[1],
        base_url=stack.emulators.accountsiq_url,
    ) as aiq:
        line = BatchLine("4000", "V01", "by hand", Decimal("10.00"), Decimal("0.23"), Decimal("2.30"))
        aiq.create_batch_sales_invoice_get_back_transaction_id(
            BatchSalesInvoice("BNY-1", date.today(), "BUNNY-INV-99999", "by hand", (line,))
        )
    differs = CliRunner().invoke(main, ["sync"])
    assert differs.exit_code == 3, differs.output
    assert "RECONCILIATION FAILED" in differs.output and "BUNNY-INV-99999" in differs.output
