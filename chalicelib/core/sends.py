"""A recipient's send attempt, claimed before SendEmail so that nothing — a retry of
``POST /invoices/{id}/send``, a replayed request, a concurrent one, a queue consumer —
mails a recipient twice for one attempt. Plain data; the claim itself is a conditional
write (``ports.InvoiceStore.claim_send``). See docs/DESIGN.md, "Sending once"."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SendOutcome:
    """What came of a claimed attempt: SES's message id, or why it was not sent."""

    at: str
    message_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class SendClaim:
    """Attempt ``attempt`` of mailing one recipient. ``won``: this caller took it and
    is the only one that may mail; otherwise it is the claim someone else holds, with
    its outcome once they settled it (None: in flight, or they stopped before knowing)."""

    recipient_id: str
    attempt: int
    claimed_at: str
    won: bool
    outcome: SendOutcome | None = None
    reminder: bool = False  # the claim of reminder number ``attempt``, not of a send


# What an operator's release settles an unsettled claim with (tools.admin sends
# release): the outcome is not known, so the message may have gone out.
RELEASED = (
    "released by an operator: SES's answer was never recorded (the message may have gone out)"
)


@dataclass(frozen=True)
class QueuedSend:
    """One message of the send queue: mail attempt ``attempt`` of one recipient, or,
    when ``reminder`` names its trigger ("scheduled", "manual"), reminder number
    ``attempt`` (the sender function runs it; SQS may deliver it twice, the claim
    mails once)."""

    invoice_id: str
    recipient_id: str
    attempt: int
    reminder: str | None = None

    def to_json(self) -> str:
        body: dict[str, object] = {
            "v": 1,
            "i": self.invoice_id,
            "r": self.recipient_id,
            "n": self.attempt,
        }
        if self.reminder is not None:
            body["reminder"] = self.reminder
        return json.dumps(body)

    @staticmethod
    def from_json(body: str) -> QueuedSend:
        """Raises ``ValueError`` for a body this code did not write."""
        try:
            data = json.loads(body)
            if data.get("v") != 1:
                raise ValueError(f"unknown version {data.get('v')!r}")
            reminder = data.get("reminder")
            send = QueuedSend(
                str(data["i"]),
                str(data["r"]),
                int(data["n"]),
                None if reminder is None else str(reminder),
            )
        except (TypeError, KeyError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a queued send: {exc}") from exc
        if not send.invoice_id or not send.recipient_id or send.attempt < 1 or send.reminder == "":
            raise ValueError("not a queued send")
        return send


class NotQueued(Exception):
    """The send queue did not take ``sends`` (the others of the call it did take)."""

    def __init__(self, sends: Sequence[QueuedSend], reason: str) -> None:
        super().__init__(f"{len(sends)} sends not queued: {reason}")
        self.refused = list(sends)
