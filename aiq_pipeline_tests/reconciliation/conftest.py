"""The whole stack (both emulators over real HTTP, a store, a Dagster instance), shared with the pipeline tests."""

from aiq_pipeline_tests.pipeline.conftest import stack  # noqa: F401  (the fixture)
