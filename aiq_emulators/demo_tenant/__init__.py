"""The demo tenant of `make demo`, generated: a seeded pair of fixture files, one per emulator, that agree.

Not the sample tenant (aiq_emulators/bunny/sample_tenant.py and the AIQ emulator's built-in fixture, both in
docs/demo-tenant.md), which the emulators seed without a fixture and which stays small because tests depend
on it. This package generates a bigger tenant in the same vocabulary (entities, credentials, chart of
accounts, tax codes, periods, financial accounts, charges) with a few hundred Bunny customers and a few
thousand invoices issued between June and November 2026, and a handful of invoices planted to fail for
different, explained reasons.

    fixtures = write_demo_fixtures(Path(".demo/fixtures"), customers=300, invoices=3000, seed=7)
    running_emulators(accountsiq_fixture=fixtures.accountsiq, bunny_fixture=fixtures.bunny)

Where things are: vocabulary.py (dates, currencies, prices, countries, processors and the demo's bank mapping),
customers.py, invoices.py (lines, states, the planted failures), payments.py (paid in full, in part, refunded,
overpaid, fees, pending, failed, account credit, one processor unmapped on purpose), assembly.py (ids, numbers,
both fixtures), summary.py (what a sync should do), files.py (writing them).

Choices worth knowing:

- Every timestamp is at or before `AS_OF` (2026-11-20 18:00 UTC), so an invoice released in the emulator
  "now" is newer than anything in the fixture and the sensor's watermark picks it up.
- DRAFT invoices carry their planned issue date (late November 2026): releasing one keeps that date, so it
  posts into an open AIQ period whatever the machine's clock says.
- An account is invoiced only in its own currency: AIQ documents take their customer's currency, so a second
  currency on one account would fail as CURRENCY_MISMATCH (that failure is planted once, on purpose).
- Tax follows the customer: Irish customers 23 % (V01; hotels 13.5 % V02 on services; charities EX; a few
  lines without a code fall back to the sync's default V01), other EU customers reverse charge (V00), UK and
  US customers zero-rated exports (V00). Item tax is written out, equal to net x rate rounded half-up.
- Payments are played through the Bunny emulator's own rules on a clock set to each moment, all in open AIQ
  periods and by AS_OF; the demo's settings (AIQ_PIPELINE_BANK_ACCOUNTS etc., aiq_emulators.demo) map every
  processor but "paypal", whose payments are the demo's UNMAPPED_BANK_ACCOUNT exceptions.
- The same seed gives byte-identical files; nothing depends on the clock or on hash order.
"""

from aiq_emulators.demo_tenant.assembly import DemoTenant, build_demo_tenant
from aiq_emulators.demo_tenant.files import AIQ_FILE, BUNNY_FILE, SUMMARY_FILE, DemoFixtures, write_demo_fixtures
from aiq_emulators.demo_tenant.vocabulary import AS_OF, FAILURE_REASONS

__all__ = [
    "AIQ_FILE",
    "AS_OF",
    "BUNNY_FILE",
    "FAILURE_REASONS",
    "SUMMARY_FILE",
    "DemoFixtures",
    "DemoTenant",
    "build_demo_tenant",
    "write_demo_fixtures",
]
