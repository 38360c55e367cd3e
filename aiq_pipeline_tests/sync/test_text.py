"""Text AIQ can read: XML 1.0 characters only, one line, within limits counted as .NET counts them."""

from aiq_pipeline.sync.documents.invoice import plan_invoice
from aiq_pipeline.sync.documents.plan import PostingPlan
from aiq_pipeline.sync.text import clean_text, utf16_length
from aiq_pipeline_tests.sync.builders import context, invoice, item


def test_characters_xml_cannot_carry_are_removed_and_said() -> None:
    cleaned = clean_text("Bell\x07 and\x1b escape\x00 and tab\there", 500)
    assert cleaned.value == "Bell and escape and tab here" and cleaned.removed == 3
    assert cleaned.note("description") == "description: 3 character(s) XML cannot carry removed"


def test_limits_count_utf16_units_and_never_split_a_character() -> None:
    emoji = "\U0001f680"  # two UTF-16 units
    assert utf16_length(emoji * 3) == 6
    cut = clean_text("ab" + emoji * 3, 5)
    assert cut.value == "ab" + emoji and utf16_length(cut.value) == 4 and cut.cut_from == 8
    assert "cut from 8 to 4" in (cut.note("line 1") or "")


def test_a_planned_invoice_carries_only_clean_text_and_says_what_changed() -> None:
    decision = plan_invoice(invoice(item(line_text="Widget\x07 \U0001f680" + "x" * 600)), context())
    assert isinstance(decision, PostingPlan)
    line = decision.main.lines[0].description
    assert "\x07" not in line and utf16_length(line) <= 500
    assert any("removed" in note and "cut" in note for note in decision.notes)
