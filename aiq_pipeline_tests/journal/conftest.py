"""The pipeline stack fixture (both emulators, a store, an instance) for the journal tests."""

from aiq_pipeline_tests.pipeline.conftest import stack  # noqa: F401
