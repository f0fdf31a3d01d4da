"""Text from files made safe to show: control characters escaped, length bounded.

Names, cards and notes come from files anyone may have written. Printed raw, an ANSI escape in a model name
could rewrite the user's terminal, and a newline could forge a line of our own output; in a Qt label, rich
text could load resources. ``printable`` keeps every visible character (any script) and spells the rest as
Python escapes.
"""

from __future__ import annotations

import unicodedata

_MAX_TEXT = 4000


def printable(text: object, limit: int = _MAX_TEXT) -> str:
    """``text`` with control, format and separator characters escaped (``\\x1b``, ``\\n``, ``\\u202e``)."""
    s = text if isinstance(text, str) else str(text)
    if len(s) > limit:
        s = s[:limit] + "..."
    if s.isprintable():
        return s
    out = []
    for ch in s:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


def printable_multiline(text: object, limit: int = _MAX_TEXT) -> str:
    """Like ``printable`` but keeps line breaks (for a card printed over several lines)."""
    return "\n".join(printable(line, limit) for line in str(text)[:limit].split("\n"))
