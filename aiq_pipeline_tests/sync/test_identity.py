import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiq_pipeline.sync.identity import (
    MAX_CODE_LENGTH,
    credit_note_reference,
    customer_code,
    invoice_reference,
    void_reference,
)

SAFE = re.compile(r"[A-Z0-9_-]+")
DERIVERS = [customer_code, invoice_reference, credit_note_reference, void_reference]
ids = st.text(min_size=1, max_size=120)


def test_readable_forms_for_bunny_numeric_ids() -> None:
    assert customer_code("42") == "BNY-42"
    assert invoice_reference("1001") == "BUNNY-INV-1001"
    assert credit_note_reference("7") == "BUNNY-CN-7"
    assert void_reference("1001") == "BUNNY-VOID-1001"


def test_lower_case_and_unsafe_ids_are_hashed_not_upper_cased_into_a_collision() -> None:
    lower, upper = customer_code("abc"), customer_code("ABC")
    assert upper == "BNY-ABC"
    assert lower != upper and lower.startswith("BNY_ABC_")
    assert customer_code("a/b c").startswith("BNY_A-B-C_")


def test_too_long_ids_are_shortened_with_a_stable_digest() -> None:
    long_id = "9" * 80
    ref = invoice_reference(long_id)
    assert len(ref) <= MAX_CODE_LENGTH
    assert ref == invoice_reference(long_id)
    assert ref != invoice_reference("9" * 81)
    # a fixed known value: the digest is SHA-256, not Python's per-process hash()
    assert ref.endswith("_" + __import__("hashlib").sha256(long_id.encode()).hexdigest()[:20].upper())


def test_boundary_length_stays_direct() -> None:
    room = MAX_CODE_LENGTH - len("BUNNY-INV-")
    assert invoice_reference("1" * room) == "BUNNY-INV-" + "1" * room
    assert invoice_reference("1" * (room + 1)).startswith("BUNNY-INV_")


@pytest.mark.parametrize("derive", DERIVERS)
def test_empty_id_is_refused(derive) -> None:
    with pytest.raises(ValueError):
        derive("")


@pytest.mark.parametrize("derive", DERIVERS)
@given(raw=ids)
def test_codes_are_short_upper_safe_and_deterministic(derive, raw) -> None:
    code = derive(raw)
    assert len(code) <= MAX_CODE_LENGTH
    assert code == code.upper()
    assert SAFE.fullmatch(code)
    assert derive(raw) == code


@pytest.mark.parametrize("derive", DERIVERS)
@given(a=ids, b=ids)
def test_distinct_ids_give_distinct_codes_even_case_insensitively(derive, a, b) -> None:
    if a != b:
        assert derive(a).upper() != derive(b).upper()


@given(a=st.from_regex(r"[0-9A-Z-]{1,60}", fullmatch=True), b=st.from_regex(r"[0-9a-z-]{1,60}", fullmatch=True))
def test_injective_across_the_direct_and_hashed_forms(a, b) -> None:
    if a != b:
        assert customer_code(a) != customer_code(b)


def test_document_kinds_never_share_a_reference() -> None:
    refs = {f(i) for f in DERIVERS[1:] for i in ("1", "2", "INV-1", "CN-1")}
    assert len(refs) == 12
