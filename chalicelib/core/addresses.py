"""Email addresses and display names as Sobre accepts them: what SES can deliver,
normalized, and names that cannot smuggle anything into a header. Pure
(email-validator, imported on first use).

* **Domains** are kept in their ASCII (IDNA) form, ``ana@xn--bcher-kva.example`` for
  ``ana@bücher.example``: that is what SES takes and what its events report back, so
  the stored address, the message and the events all agree.
* **Local parts** must be ASCII: SES has no SMTPUTF8, so ``josé@…`` could never be
  delivered and is refused up front rather than failing at send time.
* **Display names** may hold any printable text but no control character (CR/LF would
  start a new header), no lone surrogate (it cannot be encoded), no bidi override (it
  disguises the name) and none of the header specials that make a name read as an
  address list (``<>@,;:"\\[]``). A period is allowed: "Globex S.L." is a name, and
  headers are built with ``email.headerregistry``, which quotes it.
"""

from __future__ import annotations

import unicodedata

# RFC 5322's specials but the period (see above).
NAME_SPECIALS = frozenset('<>@,;:"\\[]')
# Bidi embeddings, overrides and isolates: they reorder what a reader sees.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Control, surrogate, line and paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def normalize_email(address: str) -> str:
    """An address SES can deliver, normalized, its domain in IDNA form; raises
    ValueError with the reason."""
    from email_validator import EmailNotValidError, validate_email  # lazy

    bad = _bad_character(address)
    if bad is not None:
        raise ValueError(f"it contains {bad}")
    local = address.rpartition("@")[0]
    if not local.isascii():
        raise ValueError(
            "the part before the @ must be ASCII: Amazon SES cannot deliver to an "
            "internationalized mailbox name"
        )
    try:
        result = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    ascii_email = result.ascii_email
    if not ascii_email:  # only without SMTPUTF8, which allow_smtputf8=False refuses
        raise ValueError("it cannot be written in ASCII")
    return str(ascii_email)


def display_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a display name in a header; None when it can."""
    bad = _bad_character(name)
    if bad is not None:
        return f"must not contain {bad}"
    specials = sorted({c for c in name if c in NAME_SPECIALS})
    if specials:
        return "must not contain " + " ".join(specials) + " (they make a name read as an address)"
    return None


def _bad_character(text: str) -> str | None:
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES or char in _BIDI_CONTROLS:
            return f"the control character U+{ord(char):04X}"
    return None
