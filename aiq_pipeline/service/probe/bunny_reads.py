"""Whether Bunny runs a query that reads several lists at once (UNVERIFIED: graphql-ruby may be configured with a
complexity limit that refuses it). Tried with the posting run's own read of its reference data (`ReferenceLists`).

Either answer is one the product copes with: accepted, a run reads its reference data in one request; refused, the
client reads the three lists one by one (two requests more a run) and keeps doing so in that process.
"""

from __future__ import annotations

from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline.service.probe.findings import Finding, Verdict

READING = "Bunny combined reads"
SETTING = "none: the client reads the lists one by one where Bunny refuses"


def combined_reads_finding(client: BunnyClient, entity_id: str) -> Finding:
    lists = client.reference_lists(entity_id)
    counts = (
        f"{len(lists.currencies)} currencies, {len(lists.financial_accounts)} financial accounts of entity "
        f"{entity_id}, {len(lists.price_list_charges)} price-list charges"
    )
    if client.combined_reads_refused:
        evidence = f"Bunny refused one query of three lists; read one by one: {counts} (2 requests more a run)"
        return Finding(READING, "refused", evidence, SETTING, Verdict.AGREES)
    if client.combined_read_error is not None:
        evidence = (
            f"Bunny answered one query of three lists with an error that names no limit ({client.combined_read_error});"
            f" read one by one: {counts}. Run the probe again"
        )
        return Finding(READING, "cannot tell", evidence, SETTING, Verdict.UNDETERMINED)
    return Finding(READING, "accepted", f"one request read {counts}", SETTING, Verdict.AGREES)
