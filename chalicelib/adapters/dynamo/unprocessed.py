"""SNS payloads that could not be processed, kept for an operator to read and replay
(``tools.admin unprocessed``), one partition a day (``ports.UnprocessedStore``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.adapters.dynamo import models  # lazy: see __init__.py
from chalicelib.core.model import parse_iso

# An item holds at most 400 KB, counted in UTF-8 bytes, not characters: 350,000
# characters of non-ASCII text are up to 1.4 MB, a write DynamoDB refuses (and a refused
# keep would send the record to the DLQ). SNS messages are at most 256 KB, so a real
# payload fits whole.
PAYLOAD_BYTES = 350_000


def _clipped(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


class DynamoUnprocessedStore:
    def __init__(self, retention_days: int) -> None:
        self._retention_days = retention_days

    def keep(self, received_at: str, reason: str, payload: str) -> str:
        day = received_at[:10]
        item_id = f"{day}/{received_at}#{uuid.uuid4().hex[:12]}"
        models.UnprocessedItem(
            pk=f"UNPROCESSED#{day}",
            sk=item_id.split("/", 1)[1],
            reason=_clipped(reason, 4_000),
            payload=_clipped(payload, PAYLOAD_BYTES),
            expires_at=parse_iso(received_at) + timedelta(days=self._retention_days),
        ).save()
        return item_id

    def list_unprocessed(self, limit: int, days: int = 14) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        today = datetime.now(UTC).date()
        for back in range(days):
            day = (today - timedelta(days=back)).isoformat()
            for item in models.UnprocessedItem.query(
                f"UNPROCESSED#{day}", scan_index_forward=False
            ):
                found.append(
                    {"id": f"{day}/{item.sk}", "reason": item.reason, "payload": item.payload}
                )
                if len(found) >= limit:
                    return found
        return found

    def delete_unprocessed(self, item_id: str) -> None:
        day, sk = item_id.split("/", 1)
        models.UnprocessedItem(pk=f"UNPROCESSED#{day}", sk=sk).delete()
