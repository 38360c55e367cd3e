"""The demo stack in a real browser: what a person sees in Dagster's UI, a retry launched from it, and an exception
dismissed from the command line.

`dagster dev` (webserver + daemon) runs as `make demo` runs it, on free ports in a temporary folder with the
emulators' small sample tenant and the demo's two pairs, each its own code location: `trading` (Bunny entity 1 ->
AIQ DEMO01), whose sensor posts the released invoices through the daemon and three of them fail (closed period,
unknown tax code, LEGACY-ADDON booked to a control account), and `holdings` (Bunny entity 2 -> AIQ DEMO02), whose
two invoices post. One stack serves every test of the module, in file order. Chromium is Debian's (`make test`
installs it); without it these tests FAIL, they never skip. Screenshots land in `test-artifacts/`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import playwright.sync_api as playwright_api
import pytest
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.storage.tags import BACKFILL_ID_TAG

from aiq_emulators.demo import HOLDINGS, PROJECT_DIR, TRADING, DemoStack, demo_process_environment
from aiq_pipeline.defs.posting.documents import DocumentAsset
from aiq_pipeline.defs.posting.status import list_exceptions

NAMES = TRADING.names  # the pair the walkthrough's failures, retry and dismissal belong to
DOCUMENT_ASSETS = NAMES.documents
INVOICES = NAMES.invoices
POSTED_INVOICES = INVOICES.key
ASSETS = f"assets/{TRADING.name}"  # the UI's path of the trading pair's assets: /assets/trading/aiq/...

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


def _statuses(
    instance: dg.DagsterInstance, asset: DocumentAsset = INVOICES
) -> dict[str, dg.AssetPartitionStatus | None]:
    keys = instance.get_dynamic_partitions(asset.partitions_name)
    found = instance.get_status_by_partition(asset.key, keys, asset.partitions) or {}
    return {k: found.get(k) for k in keys}


def _cli(demo: DemoStack, *args: str) -> subprocess.CompletedProcess[str]:
    """`aiq-pipeline ARGS` in a second terminal that sourced the demo's demo.env."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("aiq-pipeline")), *args],
        env=demo_process_environment(demo.env),
        cwd=demo.layout.root,
        capture_output=True,
        text=True,
        timeout=120,
    )


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
    page.goto(f"{demo.ui_url}/{ASSETS}/aiq/posted_invoices?view=lineage&lineageScope=upstream&lineageDepth=5")
    for name in ("chart_of_accounts", "tax_codes", "periods", "financial_accounts", "gl_mapping", "posted_invoices"):
        expect(_node(page, name).first).to_be_visible()
    # The setup assets were materialized before the UI started, so they show as materialized at once.
    expect(page.get_by_text("Materialized", exact=True).first).to_be_visible()
    _shot(page, "01-lineage")

    # One step upstream at a time: each asset's direct parent is the one before it in the chain.
    chain = [
        (f"{TRADING.name}/aiq/posted_invoices", "gl_mapping", "financial_accounts"),
        (f"{TRADING.name}/bunny/gl_mapping", "financial_accounts", None),
        (f"{TRADING.name}/bunny/financial_accounts", "chart_of_accounts", None),
    ]
    for asset_path, parent, not_a_parent in chain:
        _upstream_of(page, demo, asset_path)
        expect(_node(page, parent).first).to_be_visible()
        if not_a_parent:
            expect(_node(page, not_a_parent)).to_have_count(0)


def test_both_pairs_are_code_locations_with_their_own_partitions(demo, page):
    """Each pair is a code location of its own, loaded; each pair's invoices asset lists its own Bunny entity's
    invoices, and nothing crosses: no partition of one pair is a document of the other's entity, in Dagster or in
    AIQ."""
    page.goto(f"{demo.ui_url}/locations")
    for pair in (TRADING, HOLDINGS):
        expect(page.get_by_text(f"aiq_pipeline_{pair.name}", exact=True).first).to_be_visible()
    expect(page.get_by_text(re.compile("^Loaded$")).nth(1)).to_be_visible()
    _shot(page, "00-code-locations")

    bunny = demo.emulators.bunny.store.tenant
    entity_of = {i.id: i.entity_id for i in bunny.invoices}
    statuses = {pair.name: _statuses(demo.instance, pair.names.invoices) for pair in (TRADING, HOLDINGS)}
    for pair in (TRADING, HOLDINGS):
        assert {entity_of[k] for k in statuses[pair.name]} == {pair.bunny_entity}, statuses
    assert not set(statuses[TRADING.name]) & set(statuses[HOLDINGS.name])
    holdings = statuses[HOLDINGS.name]
    assert len(holdings) == demo.released_invoices(HOLDINGS) >= 2
    assert set(holdings.values()) == {dg.AssetPartitionStatus.MATERIALIZED}
    assert list_exceptions(demo.instance, HOLDINGS.names.documents) == []
    # In AIQ: DEMO02 holds exactly the holdings pair's invoices, DEMO01 none of them.
    ledgers = demo.emulators.accountsiq.state.data.entities
    posted_to = {
        entity: {t.external_reference for t in ledgers[entity].transactions.values() if t.type_code == "SI"}
        for entity in (TRADING.aiq_entity, HOLDINGS.aiq_entity)
    }
    assert posted_to[HOLDINGS.aiq_entity] == {f"BUNNY-INV-{k}" for k in holdings}
    assert not posted_to[TRADING.aiq_entity] & posted_to[HOLDINGS.aiq_entity]

    page.goto(f"{demo.ui_url}/assets/{HOLDINGS.name}/aiq/posted_invoices?view=partitions")
    expect(page.get_by_text(f"Materialized ({len(holdings)})")).to_be_visible()
    expect(page.get_by_text(f"{len(holdings)} Partitions Selected")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Failed \(0\)$"))).to_be_visible()
    _shot(page, "01b-holdings-partitions")


def test_invoice_partitions_show_posted_and_failed(demo, page):
    statuses = _statuses(demo.instance)
    failed = sorted(k for k, s in statuses.items() if s == dg.AssetPartitionStatus.FAILED)
    posted = sorted(k for k, s in statuses.items() if s == dg.AssetPartitionStatus.MATERIALIZED)
    assert len(failed) == 3 and posted, statuses

    page.goto(f"{demo.ui_url}/{ASSETS}/aiq/posted_invoices?view=partitions")
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

    page.goto(f"{demo.ui_url}/{ASSETS}/aiq/posted_invoices?view=partitions&partition={legacy.key}")
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

    page.goto(f"{demo.ui_url}/{ASSETS}/aiq/posted_invoices?view=partitions")
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

    page.goto(f"{demo.ui_url}/{ASSETS}/aiq/posted_invoices?view=partitions")
    expect(page.get_by_text(f"Failed ({len(still_broken)})")).to_be_visible()
    expect(page.get_by_text(f"Materialized ({len(statuses) - len(still_broken)})")).to_be_visible()
    page.get_by_text(fixed, exact=True).first.click()
    # Its detail now shows the materialization: the AIQ document it was posted as.
    expect(page.get_by_text("aiq_transaction_id", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"failed, and did not materialize"))).to_have_count(0)
    _shot(page, "07-after-retry")


def test_a_dismissed_exception_leaves_the_list_and_shows_in_the_partitions_history(demo, page):
    """A finance person booked the closed-period invoice by hand: `aiq-pipeline --pair trading exceptions dismiss`
    takes it off the exceptions list, `exceptions --dismissed` lists it, and the UI shows the dismissal in the
    partition's history. The holdings pair is untouched."""
    closed = next(e for e in list_exceptions(demo.instance, DOCUMENT_ASSETS) if e.reason_code == "CLOSED_PERIOD")
    number = demo.closed_period_invoice()
    assert number is not None
    reason = "booked by hand into June"

    done = _cli(demo, "--pair", TRADING.name, "exceptions", "dismiss", number, "--reason", reason, "--by", "e2e")
    assert done.returncode == 0, done.stdout + done.stderr
    assert closed.key not in {e.key for e in list_exceptions(demo.instance, DOCUMENT_ASSETS)}
    assert [e.key for e in list_exceptions(demo.instance, DOCUMENT_ASSETS, dismissed=True)] == [closed.key]
    listed = _cli(demo, "--pair", TRADING.name, "exceptions", "--dismissed")
    assert listed.returncode == 0 and closed.key in listed.stdout and reason in listed.stdout, listed.stdout
    remaining = _cli(demo, "--pair", TRADING.name, "exceptions")
    assert f"- {closed.key} " not in remaining.stdout, remaining.stdout
    assert list_exceptions(demo.instance, HOLDINGS.names.documents, dismissed=True) == []

    # The mark is a reported (runless) observation: the partition's Events show it, newest first, with who and why.
    # (Its "View all historical events" dialog lists only what runs reported.)
    page.goto(f"{demo.ui_url}/{ASSETS}/aiq/posted_invoices?view=events&partition={closed.key}")
    expect(page.get_by_text(f"Partition {closed.key} observed")).to_be_visible()
    expect(page.get_by_text(f"Dismissed by e2e: {reason}", exact=True)).to_be_visible()
    for name, value in (("dismissal", "dismissed"), ("dismissed_by", "e2e"), ("dismissal_reason", reason)):
        expect(page.get_by_role("row").filter(has_text=name).filter(has_text=value).first).to_be_visible()
    _shot(page, "08-dismissed")
