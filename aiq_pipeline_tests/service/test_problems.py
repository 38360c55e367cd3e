"""Settings and connection problems become doctor's one line, wherever they are raised and however wrapped."""

from __future__ import annotations

import dagster as dg
import pytest

from aiq_pipeline.accountsiq.errors import (
    AiqAuthenticationError,
    AiqConfigurationError,
    AiqTransportError,
    AiqValidationError,
)
from aiq_pipeline.accountsiq.regions import normalise_region
from aiq_pipeline.bunny.errors import BunnyConfigurationError, BunnyTransientError
from aiq_pipeline.service.problems import (
    SETTINGS_PROBLEM_EXIT_CODE,
    ProblemError,
    bunny_entity_unknown_problem,
    describe_problems,
    problem_lines,
)
from aiq_pipeline.settings import SettingProblem, SettingsError
from aiq_pipeline.store import StoreConnectionError

BATCH_LINE = (
    "FAIL settings [AIQ_PIPELINE_BATCH_SIZE]: AIQ_PIPELINE_BATCH_SIZE must be a whole number from 1 to 500, not 'abc'"
)
BATCH_PROBLEM = SettingProblem(
    "AIQ_PIPELINE_BATCH_SIZE", "AIQ_PIPELINE_BATCH_SIZE must be a whole number from 1 to 500, not 'abc'"
)


def test_exit_code_is_four() -> None:
    assert SETTINGS_PROBLEM_EXIT_CODE == 4


def test_a_settings_error_is_one_line_per_variable() -> None:
    missing = SettingProblem("AIQ_CLIENT_ID", "AIQ_CLIENT_ID is not set: set it to x", missing=True)
    assert problem_lines(SettingsError([BATCH_PROBLEM])) == [BATCH_LINE]
    assert problem_lines(SettingsError([missing, BATCH_PROBLEM])) == [
        "FAIL settings [AIQ_CLIENT_ID]: AIQ_CLIENT_ID is not set: set it to x",
        BATCH_LINE,
    ]


@pytest.mark.parametrize(
    ("error", "name", "setting", "words"),
    [
        (
            AiqAuthenticationError("invalid client", code="INVALID_CLIENT", operation="TokenGet"),
            "AIQ credentials",
            "AIQ_CLIENT_ID / AIQ_CLIENT_SECRET",
            "copy both again",
        ),
        (
            AiqAuthenticationError("no entity", code="API_LAYER_ENTITY_ID_NOT_FOUND", operation="GetEntitiesByToken"),
            "AIQ entity",
            "AIQ_ENTITY_ID",
            "Entities Assigned",
        ),
        (
            AiqAuthenticationError("token refused", code="API_LAYER_ENTITY_ID_NOT_FOUND", operation="TokenGet"),
            "AIQ credentials",
            "AIQ_CLIENT_ID / AIQ_CLIENT_SECRET",
            "copy both again",
        ),
        (
            BunnyConfigurationError(
                "Bunny rejected the API client credentials (invalid_client): check BUNNY_CLIENT_ID and "
                "BUNNY_CLIENT_SECRET",
                operation="oauth/token",
            ),
            "Bunny credentials",
            "BUNNY_CLIENT_ID / BUNNY_CLIENT_SECRET",
            "invalid_client",
        ),
        (
            BunnyConfigurationError("no token endpoint at x (HTTP 404): check BUNNY_BASE_URL"),
            "Bunny credentials",
            "BUNNY_BASE_URL",
            "HTTP 404",
        ),
        (
            StoreConnectionError("cannot open the store at postgresql://aiq:***@db/aiq: refused"),
            "store",
            "AIQ_PIPELINE_STORE",
            "cannot open the store",
        ),
    ],
    ids=[
        "aiq-credentials",
        "aiq-entity",
        "aiq-entity-code-on-token",
        "bunny-credentials",
        "bunny-base-url",
        "store",
    ],
)
def test_client_and_store_errors_name_the_setting(error: Exception, name: str, setting: str, words: str) -> None:
    [problem] = describe_problems(error)
    assert (problem.name, problem.setting) == (name, setting)
    assert words in problem.detail
    line = problem.line()
    assert line.startswith(f"FAIL {name} [{setting}]: ") and "\n" not in line


def test_the_clients_refusal_of_a_region_names_aiq_region() -> None:
    with pytest.raises(AiqConfigurationError) as raised:
        normalise_region("XX9")
    [problem] = describe_problems(raised.value)
    assert (problem.name, problem.setting) == ("AIQ settings", "AIQ_REGION")
    assert "use one of US1, EU1, EU2, UK1" in problem.detail


def test_a_problem_is_found_behind_wrappers() -> None:
    def raise_wrapped() -> None:
        try:
            raise SettingsError([BATCH_PROBLEM])
        except SettingsError as exc:
            raise RuntimeError("the ledger step failed") from exc

    with pytest.raises(RuntimeError) as raised:
        raise_wrapped()
    assert problem_lines(raised.value) == [BATCH_LINE]

    class StepError(Exception):  # the shape of Dagster's DagsterUserCodeExecutionError
        def __init__(self, user_exception: Exception) -> None:
            super().__init__("Error occurred while executing op")
            self.user_exception = user_exception

    assert problem_lines(StepError(SettingsError([BATCH_PROBLEM]))) == [BATCH_LINE]


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("boom"),
        AiqTransportError("timed out"),
        AiqValidationError("bad invoice", code="INVOICE_TOTAL_MISMATCH"),
        BunnyTransientError("HTTP 503"),
        KeyError("no-such-invoice"),
    ],
)
def test_other_errors_are_not_settings_problems(error: Exception) -> None:
    assert describe_problems(error) == ()


def _failed_step_error(error: Exception) -> dg.ExecuteInProcessResult:
    @dg.asset
    def refuses() -> None:
        raise error

    # An instance of the test's own: left to materialize(), the ephemeral instance may be collected while
    # the run still refers to it weakly ("Attempted to resolve undefined DagsterInstance weakref").
    with dg.DagsterInstance.ephemeral() as instance:
        return dg.materialize([refuses], raise_on_error=False, instance=instance)


def _step_failure_info(result: dg.ExecuteInProcessResult):  # type: ignore[no-untyped-def]  # dagster's type
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_failure_data is not None and failure.step_failure_data.error is not None
    return failure.step_failure_data.error


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (SettingsError([BATCH_PROBLEM]), BATCH_LINE),
        (
            AiqAuthenticationError("invalid client", code="INVALID_CLIENT", operation="TokenGet"),
            "FAIL AIQ credentials [AIQ_CLIENT_ID / AIQ_CLIENT_SECRET]: AIQ rejected the client id/secret "
            "(INVALID_CLIENT): copy both again",
        ),
        (
            AiqAuthenticationError("no entity", code="API_LAYER_ENTITY_ID_NOT_FOUND", operation="GetTaxCodes"),
            "FAIL AIQ entity [AIQ_ENTITY_ID]: AIQ refused",
        ),
        (
            BunnyConfigurationError("Bunny rejected (invalid_client): check BUNNY_CLIENT_ID", operation="oauth/token"),
            "FAIL Bunny credentials [BUNNY_CLIENT_ID]: Bunny rejected (invalid_client): check BUNNY_CLIENT_ID",
        ),
        (
            StoreConnectionError("cannot open the store at /x/aiq.duckdb: locked"),
            "FAIL store [AIQ_PIPELINE_STORE]: cannot open the store at /x/aiq.duckdb: locked",
        ),
        (
            ProblemError(bunny_entity_unknown_problem("77")),
            "FAIL Bunny entity [BUNNY_ENTITY_ID]: entity '77' does not exist in Bunny",
        ),
    ],
    ids=["settings", "aiq-credentials", "aiq-entity", "bunny", "store", "problem-error"],
)
def test_a_failed_dagster_step_gives_the_same_line(error: Exception, expected: str) -> None:
    """Runners execute with raise_on_error=False: the problem is read from the step's serialised error."""
    info = _step_failure_info(_failed_step_error(error))
    lines = problem_lines(info)
    assert len(lines) == 1 and lines[0].startswith(expected), lines
    assert lines == problem_lines(error)  # the same line as when the exception itself is at hand


def test_a_runner_exception_carrying_the_failed_steps_error_gives_its_line() -> None:
    """A runner that ran with raise_on_error=False raises its own exception with the step's `error`."""
    info = _step_failure_info(_failed_step_error(SettingsError([BATCH_PROBLEM])))

    class StepFailed(Exception):
        def __init__(self, message: str, error: object) -> None:
            super().__init__(message)
            self.error = error

    assert problem_lines(StepFailed("the ledger step failed", info)) == [BATCH_LINE]


def test_a_problem_error_subclass_is_its_own_line() -> None:
    class UnknownBunnyEntity(ProblemError):
        pass

    error = UnknownBunnyEntity(bunny_entity_unknown_problem("77"))
    assert problem_lines(error) == [str(error)]
    assert str(error).startswith("FAIL Bunny entity [BUNNY_ENTITY_ID]: entity '77' does not exist in Bunny")


def test_a_failed_dagster_step_of_another_kind_is_not_a_settings_problem() -> None:
    info = _step_failure_info(_failed_step_error(ValueError("a bug")))
    assert describe_problems(info) == ()
