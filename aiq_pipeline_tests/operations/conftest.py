"""The pipeline stack fixture for the command-line runners' tests."""

from aiq_pipeline_tests.pipeline.conftest import stack  # noqa: F401
