"""`aiq-pipeline doctor` checks every account the posting rules name against AIQ, through the real CLI against the
AIQ emulator: mapped bank accounts (a Bank account, in the mapped currency or the base one), the fees, account
credit, bad-debt and rounding accounts (active Posting accounts). What posting would refuse, doctor refuses."""

from __future__ import annotations

import pytest

from aiq_pipeline_tests.service.test_doctor import emulators, good_env, run_doctor  # noqa: F401  (fixtures)

PROBLEM_EXIT = 4


def _line(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if f" {name}:" in line)


@pytest.mark.usefixtures("good_env")
def test_mapped_accounts_that_posting_accepts_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # USD through a base-currency (EUR) bank is fine: AIQ converts at the payment's rate.
    result = run_doctor(
        monkeypatch,
        AIQ_PIPELINE_BANK_ACCOUNTS="stripe:EUR=1200,stripe:USD=1200,manual:*=1200",
        AIQ_PIPELINE_FEES_ACCOUNT="8000",
    )
    assert result.exit_code == 0, result.output
    banks = _line(result.output, "AIQ bank accounts")
    assert banks.startswith("ok") and "stripe:EUR -> 1200 (EUR)" in banks and "manual:* -> 1200" in banks
    assert "stripe:USD -> 1200 (EUR)" in banks
    assert "8000 Sundry expenses (processor fees)" in _line(result.output, "AIQ processor fees account")


@pytest.mark.usefixtures("good_env")
def test_no_bank_mapping_is_said_plainly_and_does_not_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_doctor(monkeypatch)
    assert result.exit_code == 0, result.output
    assert "none mapped" in _line(result.output, "AIQ bank accounts")


@pytest.mark.usefixtures("good_env")
@pytest.mark.parametrize(
    ("overrides", "variable", "says"),
    [
        ({"AIQ_PIPELINE_BANK_ACCOUNTS": "stripe:EUR=4000"}, "AIQ_PIPELINE_BANK_ACCOUNTS", "not a Bank account"),
        ({"AIQ_PIPELINE_BANK_ACCOUNTS": "stripe:EUR=9999"}, "AIQ_PIPELINE_BANK_ACCOUNTS", "does not exist"),
        ({"AIQ_PIPELINE_FEES_ACCOUNT": "1100"}, "AIQ_PIPELINE_FEES_ACCOUNT", "Posting account"),
        ({"AIQ_PIPELINE_ACCOUNT_CREDIT_ACCOUNT": "4099"}, "AIQ_PIPELINE_ACCOUNT_CREDIT_ACCOUNT", "inactive"),
        ({"AIQ_PIPELINE_BAD_DEBT_ACCOUNT": "7777"}, "AIQ_PIPELINE_BAD_DEBT_ACCOUNT", "does not exist"),
    ],
    ids=["not-a-bank", "no-such-bank", "fees-on-a-control-account", "inactive", "unknown"],
)
def test_an_account_posting_would_refuse_fails_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, str], variable: str, says: str
) -> None:
    result = run_doctor(monkeypatch, **overrides)
    assert result.exit_code == PROBLEM_EXIT, result.output
    failed = [line for line in result.output.splitlines() if not line.startswith("ok")]
    assert any(variable in line and says in line for line in failed), result.output
