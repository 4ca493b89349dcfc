"""SES event publishing, emulated for the local stack (moto never publishes
configuration-set events). Development only; never deployed.

    python -m infra.ses_emulator --topic-arn <arn> [--configuration-set sobre]

Every ~0.5 s it reads the messages moto accepted (``/moto-api/data.json``) and, for each
one it has not handled yet, publishes to the SES-events topic the events SES would
publish, in SES's own JSON (see tests/fixtures/ses-events/), through SNS ``Publish``
against the emulator, exactly as SES does.

What SES would do for each recipient, as AWS documents the mailbox simulator
(https://docs.aws.amazon.com/ses/latest/dg/send-an-email-from-console.html)::

    any ordinary address                    Send, Delivery
    success@simulator.amazonses.com         Send, Delivery
    ooto@simulator.amazonses.com            Send, Delivery (the auto-reply is no event)
    complaint@simulator.amazonses.com       Send, Delivery, Complaint (abuse)
    bounce@simulator.amazonses.com          Send, Bounce Permanent/General, 550 5.1.1
    suppressionlist@simulator.amazonses.com Send, Bounce Permanent/OnAccountSuppressionList

(``bounce+label@simulator.amazonses.com`` behaves like ``bounce@``, as in SES.) Each step
comes ``STEP_DELAY`` after the previous one, so a watcher sees ``sent`` then
``delivered``.

moto also drops the ``EmailTags`` and the configuration set of ``SendEmail``. The
configuration set is the app's (``SOBRE_CONFIGURATION_SET``); Sobre's own tags are
recovered from the ``MSG#<message id>`` reference the app writes right after sending.
A message with no reference after ``TAG_GRACE`` (sent by someone else) is published
without them, as SES would publish a message sent without tags.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses, parseaddr
from typing import Any, Literal

from chalicelib.core.model import TAG_ACCOUNT, TAG_INVOICE, TAG_RECIPIENT
from chalicelib.settings import Settings
from tools.local_mail import LocalMessage, SobreLookup, messages

SIMULATOR_DOMAIN = "simulator.amazonses.com"
# The Subject SES gives its SNS notifications (see the real captures in the fixtures).
SNS_SUBJECT = "Amazon SES Email Event Notification"
STEP_DELAY = timedelta(seconds=1)
TAG_GRACE = timedelta(seconds=5)
POLL_SECONDS = 0.5

Step = Literal["delivery", "bounce", "suppressed", "complaint"]
Publish = Callable[[str], None]
TagLookup = Callable[[str], dict[str, str] | None]


def steps_for(address: str) -> tuple[Step, ...]:
    """What happens after SES accepts a message to ``address`` (Send always comes first)."""
    local, _, domain = address.lower().rpartition("@")
    if domain != SIMULATOR_DOMAIN:
        return ("delivery",)
    match local.split("+", 1)[0]:
        case "bounce":
            return ("bounce",)
        case "suppressionlist":
            return ("suppressed",)
        case "complaint":
            return ("delivery", "complaint")
        case _:  # success, ooto
            return ("delivery",)


@dataclass(frozen=True)
class SesIdentity:
    """Who SES says sent the mail: the values of SES's automatic ``ses:*`` tags."""

    region: str
    account_id: str
    configuration_set: str
    caller_identity: str = "local"
    source_ip: str = "127.0.0.1"
    # SES's own sending IP; TEST-NET-1 (RFC 5737), like AWS's examples.
    outgoing_ip: str = "192.0.2.10"
    # SESv2 SendEmail, whatever the content (Simple, Raw or Template).
    operation: str = "SendEmail"

    @property
    def reporting_mta(self) -> str:
        suffix = "" if self.region == "us-east-1" else f".{self.region}"
        return f"a8-30.smtp-out{suffix}.amazonses.com"


def ses_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def feedback_id(at: datetime) -> str:
    # SES's shape: <hex millis>-<uuid>-000000, like the message ids of its MTAs.
    return f"{int(at.timestamp() * 1000):016x}-{uuid.uuid4()}-000000"


def common_headers(message: LocalMessage) -> dict[str, Any]:
    """SES's ``commonHeaders``: the usual headers, present when the message has them;
    ``messageId`` is SES's own id, as in every real capture."""
    raw = message.parsed
    common: dict[str, Any] = {}
    for header, key in (("From", "from"), ("Reply-To", "replyTo"), ("Date", "date")):
        if header in raw:
            values = [str(v) for v in raw.get_all(header) or []]
            common[key] = values if key != "date" else values[0]
    for header, key in (("To", "to"), ("Cc", "cc"), ("Bcc", "bcc")):
        if header in raw:
            pairs = getaddresses([str(v) for v in raw.get_all(header) or []])
            common[key] = [_address(name, addr) for name, addr in pairs if addr]
    common["messageId"] = message.message_id
    common["subject"] = message.subject
    return common


def _address(name: str, address: str) -> str:
    return f"{name} <{address}>" if name else address


def mail_object(
    message: LocalMessage,
    accepted_at: datetime,
    identity: SesIdentity,
    tags: dict[str, str] | None,
    *,
    left_ses: bool,
) -> dict[str, Any]:
    """The ``mail`` object of every event about ``message``. ``left_ses``: the message
    went out to the recipient's server, so SES reports the IP it left from."""
    source_address = parseaddr(message.source)[1] or message.source
    auto: dict[str, list[str]] = {
        "ses:operation": [identity.operation],
        "ses:configuration-set": [identity.configuration_set],
        "ses:source-ip": [identity.source_ip],
        "ses:from-domain": [source_address.rpartition("@")[2]],
        "ses:caller-identity": [identity.caller_identity],
    }
    if left_ses:
        auto["ses:outgoing-ip"] = [identity.outgoing_ip]
    return {
        "timestamp": ses_time(accepted_at),
        "source": message.source,
        "sourceArn": (
            f"arn:aws:ses:{identity.region}:{identity.account_id}:identity/{source_address}"
        ),
        "sendingAccountId": identity.account_id,
        "messageId": message.message_id,
        "destination": list(message.destinations),
        "headersTruncated": False,
        "headers": [{"name": name, "value": value} for name, value in message.raw_headers],
        "commonHeaders": common_headers(message),
        "tags": {**auto, **{name: [value] for name, value in (tags or {}).items()}},
    }


def send_event(mail: dict[str, Any]) -> dict[str, Any]:
    return {"eventType": "Send", "mail": mail, "send": {}}


def delivery_event(
    mail: dict[str, Any], recipient: str, at: datetime, accepted_at: datetime, mta: str
) -> dict[str, Any]:
    return {
        "eventType": "Delivery",
        "mail": mail,
        "delivery": {
            "timestamp": ses_time(at),
            "processingTimeMillis": int((at - accepted_at) / timedelta(milliseconds=1)),
            "recipients": [recipient],
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": mta,
        },
    }


def bounce_event(
    mail: dict[str, Any], recipient: str, at: datetime, mta: str, *, suppressed: bool
) -> dict[str, Any]:
    if suppressed:
        subtype, reporting = "OnAccountSuppressionList", "dns; amazonses.com"
        diagnostic = (
            "Amazon SES did not send the message to this address because it is on the "
            "suppression list for your account. For more information about removing "
            "addresses from the suppression list, see the Amazon SES Developer Guide at "
            "https://docs.aws.amazon.com/ses/latest/dg/sending-email-suppression-list.html"
        )
    else:
        subtype, reporting = "General", f"dsn; {mta}"
        diagnostic = "smtp; 550 5.1.1 user unknown"
    return {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": subtype,
            "bouncedRecipients": [
                {
                    "emailAddress": recipient,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": diagnostic,
                }
            ],
            "timestamp": ses_time(at),
            "feedbackId": feedback_id(at),
            "reportingMTA": reporting,
        },
        "mail": mail,
    }


def complaint_event(mail: dict[str, Any], recipient: str, at: datetime) -> dict[str, Any]:
    return {
        "eventType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": recipient}],
            "timestamp": ses_time(at),
            "feedbackId": feedback_id(at),
            "userAgent": "Amazon SES Mailbox Simulator",
            "complaintFeedbackType": "abuse",
            "arrivalDate": ses_time(at),
        },
        "mail": mail,
    }


def events_for(
    message: LocalMessage,
    accepted_at: datetime,
    identity: SesIdentity,
    tags: dict[str, str] | None,
    step_delay: timedelta = STEP_DELAY,
) -> list[tuple[datetime, dict[str, Any]]]:
    """Every event SES would publish about ``message``, each with the time it happens."""
    sent = mail_object(message, accepted_at, identity, tags, left_ses=False)
    left = mail_object(message, accepted_at, identity, tags, left_ses=True)
    mta = identity.reporting_mta
    timeline: list[tuple[datetime, dict[str, Any]]] = [(accepted_at, send_event(sent))]
    for recipient in message.destinations:
        at = accepted_at
        for step in steps_for(recipient):
            at += step_delay
            match step:
                case "delivery":
                    event = delivery_event(left, recipient, at, accepted_at, mta)
                case "bounce":
                    event = bounce_event(left, recipient, at, mta, suppressed=False)
                case "suppressed":
                    event = bounce_event(sent, recipient, at, mta, suppressed=True)
                case "complaint":
                    event = complaint_event(left, recipient, at)
            timeline.append((at, event))
    return timeline


def encode(event: dict[str, Any]) -> str:
    """The SNS ``Message`` as SES writes it: compact JSON and a final newline."""
    return json.dumps(event, separators=(",", ":")) + "\n"


class SesEventEmulator:
    """Turns accepted messages into SES events and publishes each when it is due."""

    def __init__(
        self,
        identity: SesIdentity,
        publish: Publish,
        lookup_tags: TagLookup,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        step_delay: timedelta = STEP_DELAY,
        tag_grace: timedelta = TAG_GRACE,
    ) -> None:
        self._identity = identity
        self._publish = publish
        self._lookup_tags = lookup_tags
        self._clock = clock
        self._step_delay = step_delay
        self._tag_grace = tag_grace
        self.handled: set[str] = set()
        self._first_seen: dict[str, datetime] = {}
        self._due: list[tuple[datetime, int, dict[str, Any]]] = []
        self._order = itertools.count()

    def see(self, accepted: list[LocalMessage]) -> None:
        """Schedule the events of every message not handled yet."""
        now = self._clock()
        for message in accepted:
            if message.message_id in self.handled or not message.destinations:
                continue
            first_seen = self._first_seen.setdefault(message.message_id, now)
            tags = self._lookup_tags(message.message_id)
            if tags is None and now - first_seen < self._tag_grace:
                continue  # the app writes its reference just after SES accepts
            for at, event in events_for(
                message, first_seen, self._identity, tags, self._step_delay
            ):
                heapq.heappush(self._due, (at, next(self._order), event))
            self.handled.add(message.message_id)
            del self._first_seen[message.message_id]

    def publish_due(self, until: datetime | None = None) -> int:
        """Publish every event due by ``until`` (now by default); returns how many."""
        limit = until or self._clock()
        published = 0
        while self._due and self._due[0][0] <= limit:
            self._publish(encode(self._due[0][2]))  # kept if publishing fails: retried
            heapq.heappop(self._due)
            published += 1
        return published

    @property
    def pending(self) -> int:
        return len(self._due) + len(self._first_seen)


def sns_publisher(topic_arn: str, region: str) -> Publish:
    import boto3

    client = boto3.client("sns", region_name=region)

    def publish(message: str) -> None:
        client.publish(TopicArn=topic_arn, Message=message, Subject=SNS_SUBJECT)

    return publish


def sobre_tags(lookup: SobreLookup) -> TagLookup:
    def tags(message_id: str) -> dict[str, str] | None:
        ref = lookup.ref(message_id)
        if ref is None:
            return None
        return {
            TAG_ACCOUNT: ref.account_id,
            TAG_INVOICE: ref.invoice_id,
            TAG_RECIPIENT: ref.recipient_id,
        }

    return tags


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.ses_emulator", description=__doc__)
    parser.add_argument("--topic-arn", default=os.environ.get("SOBRE_EVENTS_TOPIC_ARN"))
    parser.add_argument("--interval", type=float, default=POLL_SECONDS)
    args = parser.parse_args(argv)
    settings = Settings.from_env(os.environ)
    if not settings.aws_endpoint_url or not args.topic_arn:
        print(
            "Needs AWS_ENDPOINT_URL and --topic-arn (or SOBRE_EVENTS_TOPIC_ARN).", file=sys.stderr
        )
        return 2
    identity = SesIdentity(
        region=settings.aws_region,
        account_id=args.topic_arn.split(":")[4],
        configuration_set=settings.configuration_set,
    )
    emulator = SesEventEmulator(
        identity,
        sns_publisher(args.topic_arn, settings.aws_region),
        sobre_tags(SobreLookup(settings)),
    )
    print(f"Publishing SES events to {args.topic_arn}", flush=True)
    read = 0  # messages read so far: each poll asks only for the new ones
    unseen: list[LocalMessage] = []  # read, their events not scheduled yet (tags late)
    while True:
        try:
            new = messages(settings.aws_endpoint_url, after=read)
            read += len(new)
            unseen = [
                m for m in unseen + new if m.destinations and m.message_id not in emulator.handled
            ]
            emulator.see(unseen)
            emulator.publish_due()
        except Exception as exc:  # keep going: the next poll may work
            print(f"ses emulator: {exc!r}", file=sys.stderr, flush=True)
        time.sleep(args.interval)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C on `make run` reaches every child
        sys.exit(0)
