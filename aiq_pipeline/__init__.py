"""aiq-pipeline: Bunny billing -> AccountsIQ ledger, on Dagster."""
