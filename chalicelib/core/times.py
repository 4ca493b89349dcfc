"""Sobre's clock and its one time format: UTC, millisecond precision, lexically
sortable (every stored time). Apart from the model so that what needs only a clock
(the container, a pixel's fact) does not build the model's dataclasses first."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """UTC, millisecond precision, lexically sortable: the format of every stored time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
