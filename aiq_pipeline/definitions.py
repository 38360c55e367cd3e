"""The code location: `dagster dev -w workspace.yaml` (and `[tool.dg]`) load `defs` from here. Nothing imports it."""

from aiq_pipeline.defs.code_location import build_definitions

defs = build_definitions()
