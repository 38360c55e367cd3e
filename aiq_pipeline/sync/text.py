"""Text AIQ can read: XML 1.0 characters only, one line, within AIQ's length limits, with every change stated.

- XML 1.0 cannot carry most control characters (NUL, BEL, ESC...), nor unpaired surrogates or U+FFFE/U+FFFF: a
  request carrying one is refused as unparseable XML. They are removed (tabs and newlines become spaces, as every
  AIQ text field is single-line).
- AIQ is a .NET service, so its length limits are counted in UTF-16 code units: an emoji (outside the Basic
  Multilingual Plane) counts twice. Whether AIQ really counts that way is UNVERIFIED (the AIQ emulator has an
  option for both readings); counting UTF-16 units is safe under both, since it is never less than the number of
  characters. A cut never splits a surrogate pair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Characters XML 1.0 allows: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class CleanText:
    value: str
    removed: int  # characters XML 1.0 cannot carry, removed
    cut_from: int  # the length (UTF-16 units) before the cut; 0 when nothing was cut

    def note(self, field: str) -> str | None:
        """What was changed, in words, or None when nothing was."""
        changes = []
        if self.removed:
            changes.append(f"{self.removed} character(s) XML cannot carry removed")
        if self.cut_from:
            changes.append(f"cut from {self.cut_from} to {utf16_length(self.value)} characters (AIQ's limit)")
        return f"{field}: {'; '.join(changes)}" if changes else None


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def clean_text(text: str, limit: int) -> CleanText:
    """`text` as one XML-safe line of at most `limit` UTF-16 units."""
    safe, removed = _NOT_XML.subn("", text)
    line = _SPACES.sub(" ", safe).strip()
    length = utf16_length(line)
    if length <= limit:
        return CleanText(line, removed, 0)
    return CleanText(_cut(line, limit), removed, length)


def _cut(text: str, limit: int) -> str:
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index].rstrip()
    return text
