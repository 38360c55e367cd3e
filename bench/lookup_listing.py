"""How a batch's look-up grows with the documents AIQ already holds in its date window.

    .venv/bin/python bench/lookup_listing.py --existing 1000,5000,10000 [--batch 200]

Before a batch is posted, the documents the journal never wrote are looked for in one GetTransactionsBy listing per
document type and cluster of dates (`service/lookups.py`: the dates they would carry, a week either side). The
listing returns every document of that type in the window, so on a billing day each batch's look-up carries the
day's documents posted so far: the burst bench (1,000 invoices) does not show what that costs at 10,000.

The AIQ emulator runs on a loopback thread of this process with the demo tenant. Sales invoices (two lines each, to
an existing customer, dated today) are created in bulk calls of 500 up to each `--existing` level; at each level a
batch of `--batch` references that AIQ does not hold is looked for, as a posting run does
(`AccountsIQClient.get_transactions_by_external_references`), and the script prints the listing's size on the wire,
the time to its answer (the emulator's work and loopback), the client's parsing, and the whole look-up.
"""

import argparse
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

from aiq_emulators.accountsiq.app import start_emulator
from aiq_pipeline.accountsiq import AccountsIQClient
from aiq_pipeline.accountsiq.models import BatchLine, BatchSalesInvoice
from aiq_pipeline.service.lookups import MARGIN

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Sibling module of this script (bench/ is not a package).
from harness import RoundTrips

ENTITY, CLIENT, SECRET = "DEMO01", "demo-aiq-client", "demo-aiq-secret"
CUSTOMER = "EXISTING-001"  # a customer of the emulator's demo tenant
CREATE_CHUNK = 500
LINE = BatchLine("4000", "V01", "Subscription", Decimal("49.00"), Decimal("0.23"), None)


def create_up_to(aiq: AccountsIQClient, made: int, target: int, day: date) -> int:
    while made < target:
        size = min(CREATE_CHUNK, target - made)
        chunk = [BatchSalesInvoice(CUSTOMER, day, f"LISTED-{made + i}", "bench", (LINE, LINE)) for i in range(size)]
        failed = [o for o in aiq.create_batch_sales_invoice_bulk_get_back_transaction_ids(chunk) if o.error]
        if failed:
            raise SystemExit(f"the emulator refused {len(failed)} invoices: {failed[0].error}")
        made += size
    return made


def look_up(aiq: AccountsIQClient, url: str, batch: int, day: date) -> tuple[float, RoundTrips, int]:
    references = [f"WANTED-{i}" for i in range(batch)]
    with RoundTrips(url) as wire:
        started = time.perf_counter()
        found = aiq.get_transactions_by_external_references(
            references, types=["SI"], from_date=day - MARGIN, to_date=day + MARGIN
        )
        seconds = time.perf_counter() - started
    return seconds, wire, sum(len(rows) for rows in found.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--existing", default="1000,5000,10000", help="documents in the window, levels (ascending)")
    parser.add_argument("--batch", type=int, default=200, help="references looked for at each level (default 200)")
    args = parser.parse_args(argv)
    try:
        levels = [int(x) for x in args.existing.split(",")]
    except ValueError:
        parser.error("--existing takes whole numbers separated by commas, e.g. 1000,5000")
    if levels != sorted(levels) or levels[0] < 1 or args.batch < 1:
        parser.error("--existing must be ascending numbers >= 1, and --batch >= 1")
    day = date.today()
    print(f"look-up of a batch of {args.batch} references, sales invoices dated {day} (window +-{MARGIN.days} days)")
    print("in window  calls  on the wire  per doc  answer s  parse s  total s")
    with start_emulator() as (url, _):
        aiq = AccountsIQClient(base_url=url, entity_id=ENTITY, client_id=CLIENT, client_secret=SECRET)
        made = 0
        for level in levels:
            made = create_up_to(aiq, made, level, day)
            seconds, wire, matched = look_up(aiq, url, args.batch, day)
            if matched:
                raise SystemExit(f"{matched} of the wanted references were found: they were never written")
            received = sum(wire.received.values())
            print(
                f"{made:>9}  {wire.count:>5}  {received / 1e6:>8.1f} MB  {received / made / 1e3:>4.1f} KB  "
                f"{wire.seconds:>8.2f}  {seconds - wire.seconds:>7.2f}  {seconds:>7.2f}"
            )
    print("result: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
