"""The demo stack in a real browser: what a person sees in Dagster's UI, and a retry launched from it.

`dagster dev` (webserver + daemon) runs as `make demo` runs it, on free ports in a temporary folder with
the emulators' small demo tenant: the sensor posts the released invoices through the daemon, three of
them fail (closed period, unknown tax code, LEGACY-ADDON booked to a control account). Chromium is
Debian's (`make test` installs it); without it these tests FAIL, they never skip.
Screenshots land in `test-artifacts/`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import playwright.sync_api as playwright_api
import pytest
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.storage.tags import BACKFILL_ID_TAG

from aiq_emulators.demo import PROJECT_DIR, DemoStack
from aiq_pipeline.defs.posting.status import list_exceptions
from aiq_pipeline_tests.pair_names import DOCUMENT_ASSETS, INVOICES

POSTED_INVOICES, INVOICE_PARTITIONS_NAME, bunny_invoices = INVOICES.key, INVOICES.partitions_name, INVOICES.partitions

expect = playwright_api.expect


pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = PROJECT_DIR / "test-artifacts"
UI_TIMEOUT_MS = 30_000
# Assertions wait as long as actions: the UI fills in asset statuses asynchronously, slower on a loaded box.
expect.set_options(timeout=UI_TIMEOUT_MS)


def _statuses(instance: dg.DagsterInstance) -> dict[str, dg.AssetPartitionStatus | None]:
    keys = instance.get_dynamic_partitions(INVOICE_PARTITIONS_NAME)
    found = instance.get_status_by_partition(POSTED_INVOICES, keys, bunny_invoices) or {}
    return {k: found.get(k) for k in keys}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    with DemoStack(tmp_path_factory.mktemp("demo"), generated_tenant=None, batch_size=5) as stack:
        # The daemon's sensor does the posting, exactly as in `make demo`.
        stack.wait_for(lambda p: p.caught_up, timeout=240)
        yield stack


@pytest.fixture(scope="module")
def page(demo: DemoStack) -> Iterator[playwright_api.Page]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.goto(f"{demo.ui_url}/asset-groups")
            # A fresh DAGSTER_HOME greets with "Join the Dagster community" over everything.
            page.get_by_role("button", name="Skip").click()
            expect(page.get_by_role("button", name="Skip")).to_have_count(0)
            yield page
        finally:
            browser.close()


def _shot(page: playwright_api.Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"))


def _upstream_of(page: playwright_api.Page, demo: DemoStack, asset_path: str) -> playwright_api.Page:
    page.goto(f"{demo.ui_url}/assets/{asset_path}?view=lineage&lineageScope=upstream&lineageDepth=1")
    return page


def _node(page: playwright_api.Page, name: str) -> playwright_api.Locator:
    """An asset node of the lineage graph, by its asset name as printed on it."""
    return page.get_by_text(name, exact=True)


def test_lineage_shows_ledger_then_accounts_then_mapping_then_invoices(demo, page):
    page.goto(f"{demo.ui_url}/assets/aiq/posted_invoices?view=lineage&lineageScope=upstream&lineageDepth=5")
    for name in ("chart_of_accounts", "tax_codes", "periods", "financial_accounts", "gl_mapping", "posted_invoices"):
        expect(_node(page, name).first).to_be_visible()
    # The setup assets were materialized before the UI started, so they show as materialized at once.
    expect(page.get_by_text("Materialized", exact=True).first).to_be_visible()
    _shot(page, "01-lineage")

    # One step upstream at a time: each asset's direct parent is the one before it in the chain.
    chain = [
        ("aiq/posted_invoices", "gl_mapping", "financial_accounts"),
        ("bunny/gl_mapping", "financial_accounts", None),
        ("bunny/financial_accounts", "chart_of_accounts", None),
    ]
    for asset_path, parent, not_a_parent in chain:
        _upstream_of(page, demo, asset_path)
        expect(_node(page, parent).first).to_be_visible()
        if not_a_parent:
            expect(_node(page, not_a_parent)).to_have_count(0)


def test_invoice_partitions_show_posted_and_failed(demo, page):
    statuses = _statuses(demo.instance)
    failed = sorted(k for k, s in statuses.items() if s == dg.AssetPartitionStatus.FAILED)
    posted = sorted(k for k, s in statuses.items() if s == dg.AssetPartitionStatus.MATERIALIZED)
    assert len(failed) == 3 and posted, statuses

    page.goto(f"{demo.ui_url}/assets/aiq/posted_invoices?view=partitions")
    expect(page.get_by_text(f"Failed ({len(failed)})")).to_be_visible()
    expect(page.get_by_text(f"Materialized ({len(posted)})")).to_be_visible()
    expect(page.get_by_text(f"{len(statuses)} Partitions Selected")).to_be_visible()
    _shot(page, "02-partitions")

    # Only failed ones: untick the other states, and exactly the failed invoices stay listed.
    for other in ("Materialized", "Materializing", "Missing"):
        page.get_by_text(re.compile(rf"^{other} \(\d+\)$")).click()
    expect(page.get_by_text(f"{len(failed)} Partitions Selected")).to_be_visible()
    _shot(page, "03-failed-partitions")


def test_a_failed_invoice_shows_its_reason(demo, page):
    exceptions = {e.reason_code: e for e in list_exceptions(demo.instance, DOCUMENT_ASSETS)}
    legacy = exceptions["NOT_POSTING_ACCOUNT"]

    page.goto(f"{demo.ui_url}/assets/aiq/posted_invoices?view=partitions&partition={legacy.key}")
    expect(page.get_by_text(re.compile(r"Run \w+ failed, and did not materialize this asset"))).to_be_visible()
    page.get_by_role("button", name=re.compile("View all historical events")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Observation")).to_be_visible()
    dialog.get_by_role("row").filter(has_text="Observation").locator("svg, [role=button], button").first.click()
    # The observation's metadata: the reason a finance person reads, and what to do about it.
    expect(dialog.get_by_text("NOT_POSTING_ACCOUNT", exact=True)).to_be_visible()
    expect(dialog.get_by_text(legacy.reason, exact=True)).to_be_visible()
    assert "LEGACY-ADDON" in legacy.reason
    if legacy.fix:
        expect(dialog.get_by_text(legacy.fix, exact=True)).to_be_visible()
    _shot(page, "04-failed-reason")
    dialog.get_by_role("button", name="OK").click()

    # The failed run's own page names the invoice and the reason too.
    page.get_by_role("button", name="View logs").click()
    expect(page.get_by_text(re.compile(rf"{legacy.key} \[NOT_POSTING_ACCOUNT\]")).first).to_be_visible()
    _shot(page, "05-failed-run")


def test_failed_and_missing_rerun_from_the_ui_clears_the_fixed_exception(demo, page):
    everything = list_exceptions(demo.instance, DOCUMENT_ASSETS)
    before = {e.key: e.reason_code for e in everything if e.kind == "invoice"}
    fixed = next(i for i, code in before.items() if code == "NOT_POSTING_ACCOUNT")
    still_broken = {i for i in before if i != fixed}

    # A finance person fixes one cause in Bunny: LEGACY-ADDON now books to 4010, a posting account.
    demo.fix_broken_charge()

    page.goto(f"{demo.ui_url}/assets/aiq/posted_invoices?view=partitions")
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Failed and missing", exact=True).click()
    expect(dialog.get_by_text(f"{len(before)} partitions", exact=True)).to_be_visible()
    _shot(page, "06-launch-failed-and-missing")
    dialog.get_by_role("button", name="Launch backfill").click()
    expect(page.get_by_role("dialog")).to_have_count(0)

    # The daemon runs the backfill; wait for it to finish.
    def backfill_done(_progress: object) -> bool:
        backfills = demo.instance.get_backfills()
        return bool(backfills) and all(b.status != BulkActionStatus.REQUESTED for b in backfills)

    demo.wait_for(lambda p: backfill_done(p) and p.active_runs == 0, timeout=180)

    statuses = _statuses(demo.instance)
    assert statuses[fixed] == dg.AssetPartitionStatus.MATERIALIZED
    assert {k for k, s in statuses.items() if s == dg.AssetPartitionStatus.FAILED} == still_broken
    assert {e.key for e in list_exceptions(demo.instance, DOCUMENT_ASSETS) if e.kind == "invoice"} == still_broken
    # ... and it was the UI's backfill that posted it.
    event = demo.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=POSTED_INVOICES, asset_partitions=[fixed]), limit=1
    ).records[0]
    run = demo.instance.get_run_by_id(event.run_id)
    assert run is not None and BACKFILL_ID_TAG in run.tags

    page.goto(f"{demo.ui_url}/assets/aiq/posted_invoices?view=partitions")
    expect(page.get_by_text(f"Failed ({len(still_broken)})")).to_be_visible()
    expect(page.get_by_text(f"Materialized ({len(statuses) - len(still_broken)})")).to_be_visible()
    page.get_by_text(fixed, exact=True).first.click()
    # Its detail now shows the materialization: the AIQ document it was posted as.
    expect(page.get_by_text("aiq_transaction_id", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"failed, and did not materialize"))).to_have_count(0)
    _shot(page, "07-after-retry")
