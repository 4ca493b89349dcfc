"""SES notifications (chalicelib/tracking/ses_events.py) against the real payloads in
tests/fixtures/ses-events (see SOURCES.md there). Pure: no I/O but reading fixtures."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chalicelib.core.model import TAG_ACCOUNT, TAG_INVOICE, TAG_RECIPIENT
from chalicelib.tracking.ses_events import (
    SesNotification,
    Unprocessable,
    parse_notification,
    sns_message_of,
)

pytestmark = pytest.mark.disable_socket

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ses-events"
DOC_MESSAGE_ID = "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def message_of(name: str) -> str:
    """The SNS ``Message`` a fixture carries: through ``sns_message_of`` for a Lambda
    event (first record) or an SNS envelope; the file itself when it is a bare Message."""
    data = load(name)
    if isinstance(data, dict) and isinstance(data.get("Records"), list):
        return sns_message_of(data["Records"][0])
    if isinstance(data, dict) and "Type" in data and "Message" in data:
        return sns_message_of({"Sns": data})
    return (FIXTURES / name).read_text(encoding="utf-8")


def parsed(name: str) -> SesNotification:
    return parse_notification(message_of(name))


@dataclass(frozen=True)
class Expected:
    event_type: str
    message_id: str
    emails: list[str]
    at: str
    details: dict[str, Any] = field(default_factory=dict)
    # details of individual recipients, by email
    per_recipient: dict[str, dict[str, Any]] = field(default_factory=dict)
    absent: tuple[str, ...] = ()


GMAIL_DIAGNOSTIC = (
    "smtp; 550-5.1.1 The email account that you tried to reach does not exist. Please try\n"
    "550-5.1.1 double-checking the recipient's email address for typos or\n"
    "550-5.1.1 unnecessary spaces. Learn more at\n"
    "550 5.1.1  https://support.google.com/mail/?p=NoSuchUser o8si14457989wrs.128 - gsmtp"
)

EXPECTED: dict[str, Expected] = {
    "event-send.awsdocs.json": Expected(
        "send",
        DOC_MESSAGE_ID,
        ["recipient@example.com"],
        "2016-10-14T05:02:16.645Z",
        {"message_id": DOC_MESSAGE_ID},
    ),
    "event-delivery.awsdocs.json": Expected(
        "delivery",
        DOC_MESSAGE_ID,
        ["recipient@example.com"],
        "2016-10-19T23:21:04.133Z",  # the delivery's time, not the mail's
        {
            "smtp_response": "250 2.6.0 Message received",
            "reporting_mta": "mta.example.com",
            "processing_time_ms": 11893,
        },
        absent=("remote_mta_ip",),  # this doc sample has none
    ),
    "event-complaint.awsdocs.json": Expected(
        "complaint",
        DOC_MESSAGE_ID,
        ["recipient@example.com"],
        "2017-08-05T00:41:02.669Z",
        {
            "feedback_type": "abuse",
            "feedback_id": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
        },
    ),
    "event-reject.awsdocs.json": Expected(
        "reject",
        DOC_MESSAGE_ID,
        ["sender@example.com"],  # the doc sample's mail.destination
        "2016-10-14T17:38:15.211Z",
        {"reason": "Bad content"},
    ),
    "event-rendering-failure.awsdocs.json": Expected(
        "rendering_failure",
        DOC_MESSAGE_ID,
        ["recipient@example.com"],
        "2018-01-22T18:43:06.197Z",
        {
            "error": "Attribute 'attributeName' is not present in the rendering data.",
            "template": "MyTemplate",
        },
    ),
    "event-subscription.awsdocs.json": Expected(
        "subscription",
        "EXAMPLEe4bccb684-777bc8de-afa7-4970-92b0-f515137b1497-000000",
        ["recipient@example.com"],
        "2022-01-12T01:00:17.910Z",
        {"source": "UnsubscribeHeader", "contact_list": "ContactListName"},
    ),
    "classic-bounce-permanent-no-dsn.awsdocs.json": Expected(
        "bounce",
        "00000137860315fd-34208509-5b74-41f3-95c5-22c1edc3c924-000000",
        ["jane@example.com", "richard@example.com"],  # not mary: she did not bounce
        "2016-01-27T14:59:38.237Z",
        {
            "type": "Permanent",
            "subtype": "General",
            "feedback_id": "00000137860315fd-869464a4-8680-4114-98d3-716fe35851f9-000000",
        },
        absent=("diagnostic", "status", "action"),
    ),
    "classic-bounce-permanent-with-dsn.awsdocs.json": Expected(
        "bounce",
        "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
        ["jane@example.com"],
        "2016-01-27T14:59:38.237Z",
        {"type": "Permanent", "subtype": "General"},
        {
            "jane@example.com": {
                "diagnostic": "smtp; 550 5.1.1 <jane@example.com>... User",
                "status": "5.1.1",
                "action": "failed",
            }
        },
    ),
    "classic-complaint-with-feedback.awsdocs.json": Expected(
        "complaint",
        "000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000",
        ["richard@example.com"],
        "2016-01-27T14:59:38.237Z",
        {"feedback_type": "abuse"},
    ),
    "lambda-sns-classic-delivery-real.lambda-local.json": Expected(
        "delivery",
        "0101015d1457bd85-2ff839b3-c119-4311-b90c-5ce39eff3026-000000",
        ["jeff@amazon.com"],
        "2017-07-05T20:01:21.302Z",
        {
            "smtp_response": "250 ok: Message 122614849 accepted",
            "reporting_mta": "a27-42.smtp-out.us-west-2.amazonses.com",
            "remote_mta_ip": "207.171.188.9",
            "processing_time_ms": 529,
        },
    ),
    "sns-http-event-bounce-permanent-gmail.spatie.json": Expected(
        "bounce",
        "0107016eb1654604-5f27d09d-872f-4a34-be34-c4e24741cb66-000000",
        ["mcbounceface@spatie.be"],
        "2019-11-28T09:43:55.547Z",
        {"type": "Permanent", "subtype": "General"},
        {
            "mcbounceface@spatie.be": {
                "diagnostic": GMAIL_DIAGNOSTIC,
                "status": "5.1.1",
                "action": "failed",
            }
        },
    ),
    "sns-http-event-click.spatie.json": Expected(
        "click",
        "0107016eb14a6683-21d61476-4ac8-4eb2-aa71-79209c70e8a4-000000",
        ["hello@rias.be"],
        "2019-11-28T09:14:53.099Z",
        {
            "link": "https://spatie.be",
            "ip": "84.197.146.0/24",
            "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 13_1_3 like Mac OS X) "
            "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0.1 Mobile/15E148 Safari/604.1",
        },
    ),
    "sns-http-event-open-apple-mpp.spatie.json": Expected(
        "open",
        "0107018023eb0291-0bc7253b-53c2-473f-8efd-88e3637c18ce-000000",
        ["rias@spatie.be"],
        "2022-04-13T17:14:18.824Z",
        {"user_agent": "Mozilla/5.0", "ip": "104.28.40.0/24"},
    ),
}

REFUSED = {
    "sns-http-ses-topic-validation.localstack-snapshot.json",
    "sns-http-subscription-confirmation.spatie.json",
    "lambda-ses-inbound-receipt-NOT-a-notification.powertools.json",
    "lambda-sns-envelope.powertools.json",
    "moto-5.2.5-sqs-body-identity-bounce.NOT-AWS-FORMAT.json",
}


def test_every_fixture_is_covered() -> None:
    on_disk = {p.name for p in FIXTURES.glob("*.json")}
    assert on_disk == set(EXPECTED) | REFUSED
    assert not set(EXPECTED) & REFUSED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses(name: str) -> None:
    expected = EXPECTED[name]
    notification = parsed(name)
    assert notification.event_type == expected.event_type
    assert notification.message_id == expected.message_id
    assert [e.email for e in notification.events] == expected.emails
    for event in notification.events:
        assert event.type == expected.event_type
        assert event.at == expected.at
        assert event.key.startswith("ses-")
        wanted = {**expected.details, **expected.per_recipient.get(event.email, {})}
        assert {k: event.details.get(k) for k in wanted} == wanted
        assert None not in event.details.values()
        for name_ in expected.absent:
            assert name_ not in event.details
    # None of the fixtures comes from Sobre: no Sobre tags.
    assert (notification.account_id, notification.invoice_id, notification.recipient_id) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_same_payload_parsed_twice_gives_the_same_keys(name: str) -> None:
    first, second = parsed(name), parsed(name)
    assert [e.key for e in first.events] == [e.key for e in second.events]
    assert first == second


def test_keys_differ_across_fixtures_events_and_recipients() -> None:
    keys = [e.key for name in EXPECTED for e in parsed(name).events]
    assert len(keys) == len(set(keys))
    # Five doc samples share one message id; their event types keep them apart.
    same_message = [n for n in EXPECTED if EXPECTED[n].message_id == DOC_MESSAGE_ID]
    assert len(same_message) == 5


def test_keys_differ_per_recipient_of_one_notification() -> None:
    events = parsed("classic-bounce-permanent-no-dsn.awsdocs.json").events
    assert len(events) == 2
    assert events[0].key != events[1].key


def test_ip_addresses_are_truncated_and_never_kept_whole() -> None:
    for name in ("sns-http-event-open-apple-mpp.spatie.json", "sns-http-event-click.spatie.json"):
        message = message_of(name)
        whole = json.loads(message)[json.loads(message)["eventType"].lower()]["ipAddress"]
        [event] = parsed(name).events
        assert event.details["ip"].endswith(".0/24")
        assert whole not in json.dumps(event.details)


# -- refused payloads --------------------------------------------------------------------


def test_topic_validation_message_is_plain_text_and_refused() -> None:
    message = message_of("sns-http-ses-topic-validation.localstack-snapshot.json")
    assert message.startswith("Successfully validated SNS topic")
    with pytest.raises(Unprocessable, match="not JSON"):
        parse_notification(message)


def test_subscription_confirmation_is_refused_by_type() -> None:
    envelope = load("sns-http-subscription-confirmation.spatie.json")
    assert envelope["Type"] == "SubscriptionConfirmation"
    with pytest.raises(Unprocessable, match="SubscriptionConfirmation"):
        sns_message_of({"Sns": envelope})


def test_ses_inbound_receipt_event_is_refused() -> None:
    event = load("lambda-ses-inbound-receipt-NOT-a-notification.powertools.json")
    record = event["Records"][0]
    assert "Sns" not in record
    assert record["eventSource"] == "aws:ses"
    with pytest.raises(Unprocessable, match="no 'Sns'"):
        sns_message_of(record)
    # Even handed its SES part directly, it is no notification: mail but no event type.
    with pytest.raises(Unprocessable, match="neither eventType nor notificationType"):
        parse_notification(json.dumps(record["ses"]))


def test_non_ses_sns_message_is_refused() -> None:
    message = message_of("lambda-sns-envelope.powertools.json")
    assert message == "Hello from SNS!"
    with pytest.raises(Unprocessable):
        parse_notification(message)


def test_moto_output_is_not_the_aws_format_and_is_refused() -> None:
    body = load("moto-5.2.5-sqs-body-identity-bounce.NOT-AWS-FORMAT.json")
    # What differs from AWS: Message is an object, not a JSON string; the notification
    # type is a placeholder; the signature version is "2".
    assert isinstance(body["Message"], dict)
    assert body["Message"]["notificationType"] == "Bounce, Complaint, or Delivery."
    assert body["SignatureVersion"] == "2"
    with pytest.raises(Unprocessable, match="Message string"):
        sns_message_of({"Sns": body})
    with pytest.raises(Unprocessable, match="notificationType"):
        parse_notification(json.dumps(body["Message"]))


def _doc(name: str = "event-delivery.awsdocs.json") -> dict[str, Any]:
    data = load(name)
    assert isinstance(data, dict)
    return data


def _without(path: list[str]) -> dict[str, Any]:
    payload = _doc()
    node = payload
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return payload


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({**_doc(), "eventType": "Teleport"}, "unknown SES eventType"),
        ({**_doc(), "eventType": None}, "unknown SES eventType"),
        (_without(["mail", "messageId"]), "messageId"),
        ({**_doc(), "mail": {**_doc()["mail"], "messageId": ""}}, "messageId"),
        ({**_doc(), "mail": {**_doc()["mail"], "messageId": 42}}, "messageId"),
        (_without(["mail"]), "no 'mail'"),
        ({**_doc(), "mail": "not an object"}, "no 'mail'"),
        (_without(["eventType"]), "neither eventType nor notificationType"),
        ({"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "ok"}, "no 'mail'"),
        ({**_without(["eventType"]), "notificationType": "Received"}, "notificationType"),
        (_without(["delivery"]), "malformed delivery"),
        (_without(["delivery", "timestamp"]), "malformed delivery"),
        (_without(["mail", "timestamp"]), "malformed"),
        ({**_doc(), "delivery": {**_doc()["delivery"], "timestamp": "yesterday"}}, "malformed"),
        ({**_doc(), "delivery": {**_doc()["delivery"], "recipients": []}}, "no recipient"),
        ([_doc()], "no 'mail'"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_malformed_payloads_are_refused(payload: Any, match: str) -> None:
    with pytest.raises(Unprocessable, match=match):
        parse_notification(json.dumps(payload))


@pytest.mark.parametrize("text", ["", "{", "null", "42", '"a string"', "<xml/>"])
def test_non_object_messages_are_refused(text: str) -> None:
    with pytest.raises(Unprocessable):
        parse_notification(text)


def test_bounce_without_recipient_list_is_refused() -> None:
    payload = _doc("sns-http-event-bounce-permanent-gmail.spatie.json")
    message = json.loads(payload["Message"])
    del message["bounce"]["bouncedRecipients"]
    with pytest.raises(Unprocessable, match="malformed bounce"):
        parse_notification(json.dumps(message))


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"Sns": "text"},
        {"Sns": {"Type": "Notification"}},
        {"Sns": {"Type": "UnsubscribeConfirmation", "Message": "{}"}},
        {"Sns": {"Message": {"mail": {}}}},
    ],
)
def test_sns_message_of_refuses_records_without_a_notification_message(
    record: dict[str, Any],
) -> None:
    with pytest.raises(Unprocessable):
        sns_message_of(record)


def test_sns_message_of_defaults_type_to_notification() -> None:
    assert sns_message_of({"Sns": {"Message": "x"}}) == "x"


# -- keys, tags and variants ------------------------------------------------------------


def test_classic_and_event_publishing_reports_of_one_bounce_share_keys() -> None:
    classic = _doc("classic-bounce-permanent-with-dsn.awsdocs.json")
    published = copy.deepcopy(classic)
    published["eventType"] = published.pop("notificationType")
    [a] = parse_notification(json.dumps(classic)).events
    [b] = parse_notification(json.dumps(published)).events
    assert a.key == b.key


def test_key_ignores_email_case_but_not_time_or_user_agent() -> None:
    message = json.loads(message_of("sns-http-event-open-apple-mpp.spatie.json"))
    base = parse_notification(json.dumps(message)).events[0].key

    upper = copy.deepcopy(message)
    upper["mail"]["destination"] = ["RIAS@spatie.be"]
    assert parse_notification(json.dumps(upper)).events[0].key == base

    later = copy.deepcopy(message)
    later["open"]["timestamp"] = "2022-04-13T17:14:19.824Z"
    assert parse_notification(json.dumps(later)).events[0].key != base

    other_agent = copy.deepcopy(message)
    other_agent["open"]["userAgent"] = "Mozilla/5.0 (Windows NT 10.0)"
    assert parse_notification(json.dumps(other_agent)).events[0].key != base

    other_message = copy.deepcopy(message)
    other_message["mail"]["messageId"] = "0107018023eb0291-other-000000"
    assert parse_notification(json.dumps(other_message)).events[0].key != base


def test_timestamps_are_normalised_to_utc_milliseconds() -> None:
    message = json.loads(message_of("sns-http-event-open-apple-mpp.spatie.json"))
    message["open"]["timestamp"] = "2022-04-13T19:14:18.824512+02:00"
    [event] = parse_notification(json.dumps(message)).events
    assert event.at == "2022-04-13T17:14:18.824Z"


def test_sobre_tags_are_read_from_mail_tags() -> None:
    payload = _doc()
    payload["mail"]["tags"].update(
        {
            TAG_ACCOUNT: ["acme"],
            TAG_INVOICE: ["inv_abc"],
            TAG_RECIPIENT: ["rcp_def"],
        }
    )
    notification = parse_notification(json.dumps(payload))
    assert notification.account_id == "acme"
    assert notification.invoice_id == "inv_abc"
    assert notification.recipient_id == "rcp_def"
    assert notification.event_type == "delivery"


@pytest.mark.parametrize(
    "tags",
    [
        {TAG_INVOICE: "inv_abc"},  # not a list
        {TAG_INVOICE: []},
        {TAG_INVOICE: [7]},
        "sobre-invoice=inv_abc",  # not an object
    ],
)
def test_malformed_tags_are_ignored(tags: Any) -> None:
    payload = _doc()
    payload["mail"]["tags"] = tags
    notification = parse_notification(json.dumps(payload))
    assert notification.invoice_id is None
    assert len(notification.events) == 1


def test_rendering_failure_without_space_is_accepted() -> None:
    payload = _doc("event-rendering-failure.awsdocs.json")
    payload["eventType"] = "RenderingFailure"
    assert parse_notification(json.dumps(payload)).event_type == "rendering_failure"


def test_delivery_delay_names_the_delayed_recipients() -> None:
    # Shape of the "DeliveryDelay record" on the SES event-publishing examples page.
    payload = _doc("event-send.awsdocs.json")
    del payload["send"]
    payload["eventType"] = "DeliveryDelay"
    payload["mail"]["destination"] = ["recipient@example.com", "other@example.com"]
    payload["deliveryDelay"] = {
        "timestamp": "2020-06-16T00:15:40.641Z",
        "delayType": "InternalFailure",
        "expirationTime": "2020-06-16T00:25:40.914Z",
        "delayedRecipients": [
            {
                "emailAddress": "recipient@example.com",
                "status": "4.0.0",
                "diagnosticCode": "Temporary failure",
            }
        ],
    }
    notification = parse_notification(json.dumps(payload))
    assert notification.event_type == "delivery_delay"
    [event] = notification.events
    assert event.email == "recipient@example.com"
    assert event.at == "2020-06-16T00:15:40.641Z"
    assert event.details == {
        "delay_type": "InternalFailure",
        "expires": "2020-06-16T00:25:40.914Z",
    }
