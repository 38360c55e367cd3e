"""`aiq-pipeline doctor --probe`: read-only checks that settle, for one tenant, each reading of AIQ and Bunny that
no one could verify from here (issue 15), and say whether the product's settings agree.

- `findings`: the typed `Finding` (reading, what the tenant shows, evidence, setting, verdict, what to change);
- `aiq_chart`: AccountType spellings and tax-rate units, from the chart and the tax codes;
- `aiq_history`: the period list, the exchange-rate direction and repeated references, from what AIQ holds;
- `bunny_invoices`: the entity's last N released invoices; `bunny_money`: which money reading makes them add up;
- `bunny_filters`: which `filter:` strings the tenant accepts, tried with harmless reads;
- `report`: the table and the fix lines; `run`: all of it against the configured pair.

No Dagster here; nothing is written to either service.
"""

from aiq_pipeline.service.probe.findings import Finding, Verdict
from aiq_pipeline.service.probe.report import READING_CONTRADICTS_EXIT_CODE, ProbeReport
from aiq_pipeline.service.probe.run import run_probe

__all__ = ["READING_CONTRADICTS_EXIT_CODE", "Finding", "ProbeReport", "Verdict", "run_probe"]
