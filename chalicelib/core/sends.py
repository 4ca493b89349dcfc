"""A recipient's send attempt, claimed before SendEmail so that nothing — a retry of
``POST /invoices/{id}/send``, a replayed request, a concurrent one, a queue consumer —
mails a recipient twice for one attempt. Plain data; the claim itself is a conditional
write (``ports.InvoiceStore.claim_send``). See docs/DESIGN.md, "Sending once"."""

from __future__ import annotations

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
