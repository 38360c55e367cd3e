"""Sensor -> runs -> some posted, some failed with reasons -> exceptions -> cause fixed -> retry -> all posted."""

from __future__ import annotations

import json
from decimal import Decimal

import dagster as dg
import pytest
from click.testing import CliRunner

from aiq_pipeline.cli import main
from aiq_pipeline_tests.pipeline.helpers import aiq_documents, apply_tick, sensor_tick, statuses

FAILED = dg.AssetPartitionStatus.FAILED
MATERIALIZED = dg.AssetPartitionStatus.MATERIALIZED

pytestmark = pytest.mark.slow


def _bunny_invoices(stack) -> dict[str, dict]:
    data = stack.bunny_graphql(
        "query { invoices(first: 100) { nodes { id state number entity { id } } } }",
    )
    return {n["id"]: n for n in data["invoices"]["nodes"]}


def _cli_env(stack, monkeypatch) -> None:
    resources = stack.defs.resources
    aiq, bunny = resources["accountsiq"], resources["bunny"]
    env = {
        "DAGSTER_HOME": stack.instance.root_directory,
        "AIQ_BASE_URL": aiq.base_url,
        "AIQ_ENTITY_ID": aiq.entity_id,
        "AIQ_CLIENT_ID": aiq.client_id,
        "AIQ_CLIENT_SECRET": aiq.client_secret,
        "AIQ_DEFAULT_TAX_CODE": aiq.default_tax_code,
        "BUNNY_BASE_URL": bunny.base_url,
        "BUNNY_CLIENT_ID": bunny.client_id,
        "BUNNY_CLIENT_SECRET": bunny.client_secret,
        "BUNNY_ENTITY_ID": bunny.entity_id,
        "AIQ_PIPELINE_STORE": resources["store"].location,
        "AIQ_PIPELINE_BATCH_SIZE": "5",
        "AIQ_PIPELINE_SYNC_START_DATE": "2025-01-01",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_sensor_posts_released_invoices_and_failures_become_retryable_exceptions(stack, monkeypatch):
    _cli_env(stack, monkeypatch)
    bunny = _bunny_invoices(stack)
    postable = {
        i for i, inv in bunny.items() if inv["entity"]["id"] == "1" and inv["state"] in {"NOT_DUE", "DUE", "PAID"}
    }

    # 1. The sensor asks for every released invoice of entity 1 and nothing else, in batches.
    tick = sensor_tick(stack)
    (add,) = tick.dynamic_partitions_requests
    assert set(add.partition_keys) == postable
    assert len(tick.run_requests) == -(-len(postable) // 5)  # ceil: batches of five
    runs = apply_tick(stack, tick)
    assert len(runs) == len(tick.run_requests)

    # 2. Each invoice ends on its own: the good ones posted, the three broken ones FAILED.
    status = statuses(stack)
    failed = {k for k, s in status.items() if s == FAILED}
    assert len(failed) == 3
    assert {k for k, s in status.items() if s == MATERIALIZED} == postable - failed
    docs = aiq_documents(stack)
    assert set(docs) == {f"BUNNY-INV-{k}" for k in postable - failed}
    assert set(docs.values()) == {1}

    # 3. A second tick finds nothing new (the cursor and the partition set agree).
    again = sensor_tick(stack, cursor=tick.cursor)
    assert not again.run_requests and not again.dynamic_partitions_requests

    # 4. The exceptions list names each failure with a reason a finance person can act on.
    listed = CliRunner().invoke(main, ["exceptions", "--json"])
    assert listed.exit_code == 0, listed.output
    exceptions = {e["key"]: e for e in json.loads(listed.output)}
    assert set(exceptions) == failed
    codes = {e["reason_code"] for e in exceptions.values()}
    assert codes == {"CLOSED_PERIOD", "UNKNOWN_TAX_CODE", "NOT_POSTING_ACCOUNT"}
    assert all(e["fix"] and e["reason"] for e in exceptions.values())
    human = CliRunner().invoke(main, ["exceptions"])
    assert "3 invoice(s) could not be posted" in human.output and "LEGACY-ADDON" in human.output

    # 5. Retrying before fixing anything fails the same way and posts nothing twice.
    still = CliRunner().invoke(main, ["retry", "--all"])
    assert still.exit_code == 1
    assert aiq_documents(stack) == docs

    # 6. Fix the causes where a finance team would: the charge's account in Bunny, the period and the
    #    tax code in AIQ.
    stack.fix_demo_data()

    # 7. The retry clears every exception and posts each invoice exactly once.
    fixed = CliRunner().invoke(main, ["retry", "--all"])
    assert fixed.exit_code == 0, fixed.output
    assert "posted: 3" in fixed.output
    assert set(statuses(stack).values()) == {MATERIALIZED}
    assert json.loads(CliRunner().invoke(main, ["exceptions", "--json"]).output) == []
    final = aiq_documents(stack)
    assert set(final) == {f"BUNNY-INV-{k}" for k in postable}
    assert set(final.values()) == {1}

    # 8. The store's posting outcomes agree to the cent with AIQ for every invoice, and the journal holds each
    #    invoice's AIQ id.
    rows = stack.journal_outcomes()
    assert {r["claim_key"] for r in rows} == postable
    for row in rows:
        assert row["outcome"] == "posted"
        assert row["aiq_gross"] == row["gross"] and isinstance(row["gross"], Decimal)
    written = {e.reference: e for e in stack.journal() if e.kind == "invoice"}
    assert set(written) == set(final)
    assert all(e.state == "posted" and e.aiq_id for e in written.values())
