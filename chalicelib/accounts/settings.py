"""What an account may change, and the rule for each value. Pure.

One ``Setting`` a field: its kind (how a form or the command line reads it) and a check
that returns the value as stored or raises ``ValueError`` saying what is wrong."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.core.addresses import normalize_email
from chalicelib.core.model import LANGUAGES


@dataclass(frozen=True)
class Setting:
    kind: type
    check: Callable[[Any], Any]


def _optional_address(value: Any) -> str | None:
    return normalize_email(value) if value else None


def _address(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("must be an email address")
    return normalize_email(value)


def _time_zone(value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(str(exc) or "is not a time zone") from exc
    return str(value)


def _locale(value: Any) -> str:
    if not isinstance(value, str) or value.split("-")[0] not in LANGUAGES:
        raise ValueError(f"must be one of {sorted(LANGUAGES)}")
    return value


def _name(value: Any) -> str:
    if not (isinstance(value, str) and 0 < len(value) <= 200):
        raise ValueError("must be 1 to 200 characters")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _number(lowest: int, highest: int, message: str) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(message)
        if not lowest <= value <= highest:
            raise ValueError(message)
        return value

    return check


def _count(lowest: int, highest: int) -> Setting:
    return Setting(int, _number(lowest, highest, f"must be a number from {lowest} to {highest}"))


ACCOUNT_SETTINGS: Mapping[str, Setting] = {
    "name": Setting(str, _name),
    "reply_to": Setting(str, _optional_address),
    "report_address": Setting(str, _optional_address),
    "time_zone": Setting(str, _time_zone),
    "locale": Setting(str, _locale),
    "tracking": Setting(bool, _flag),
    "retention_days": Setting(int, _number(1, 3650, "must be a number of days from 1 to 3650")),
}
REPORT_SETTINGS: Mapping[str, Setting] = {
    "digest_when_quiet": Setting(bool, _flag),
    "unopened_after_days": _count(1, 90),
    "reminders": Setting(bool, _flag),
    "reminder_after_days": _count(1, 60),
    "reminder_max": _count(0, 10),
    "alert_emails": Setting(bool, _flag),
}

# Everything an account changes over the API (``PATCH /account``): the same rules.
ALL_SETTINGS: Mapping[str, Setting] = {
    "from_address": Setting(str, _address),
    **ACCOUNT_SETTINGS,
    **REPORT_SETTINGS,
}


def checked(
    changes: Mapping[str, Any], allowed: Mapping[str, Setting], unknown: str
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The changes as they will be stored, and every problem with them at once
    (``unknown`` is the message for a field that is not in ``allowed``)."""
    values: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    for field, value in changes.items():
        setting = allowed.get(field)
        if setting is None:
            errors.append({"field": field, "message": unknown})
            continue
        try:
            values[field] = setting.check(value)
        except ValueError as exc:
            errors.append({"field": field, "message": str(exc) or "is not valid"})
    return values, errors
