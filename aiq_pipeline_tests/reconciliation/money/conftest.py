"""The payments stack (both emulators over real HTTP, AIQ with its bank accounts, stripe mapped per currency, paypal
unmapped, a fees account; a store and a Dagster instance) in place of the demo stack of the directory above."""

from aiq_pipeline_tests.payments.conftest import stack  # noqa: F401  (the fixture)
