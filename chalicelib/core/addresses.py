"""Email addresses as Sobre accepts them: syntactically valid and normalized. Pure
(email-validator, imported on first use)."""

from __future__ import annotations


def normalize_email(address: str) -> str:
    """A syntactically valid address, normalized; raises ValueError with the reason."""
    from email_validator import EmailNotValidError, validate_email  # lazy

    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return str(result.normalized)
