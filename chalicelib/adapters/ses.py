"""SES adapter: sends one raw MIME message per recipient through SESv2."""

from __future__ import annotations

from typing import Any

from chalicelib.core.model import OutgoingEmail
from chalicelib.errors import SendRejected, SendThrottled

# SES's answers to a send above the account's rate (TooManyRequestsException is SESv2's
# HTTP 429, the others SES v1's and the quota's): the message was not sent.
_THROTTLED = {
    "TooManyRequestsException",
    "Throttling",
    "ThrottlingException",
    "LimitExceededException",
}
# Errors that mean "this message will never go out as it is"; anything else (network,
# 5xx after retries) is transient and raised so the caller can answer 503.
_PERMANENT = {
    "MessageRejected",
    "MailFromDomainNotVerifiedException",
    "AccountSuspendedException",
    "SendingPausedException",
    "BadRequestException",
    "NotFoundException",
}


class SesMailer:
    def __init__(self, configuration_set: str, region: str, max_attempts: int) -> None:
        import boto3  # lazy: the pixel path never sends mail
        from botocore.config import Config

        self._configuration_set = configuration_set
        self._client: Any = boto3.client(
            "sesv2",
            region_name=region,
            # "standard" retries throttling with backoff before we see the error.
            config=Config(retries={"mode": "standard", "max_attempts": max_attempts}),
        )

    def send(self, email: OutgoingEmail) -> str:
        from botocore.exceptions import ClientError

        try:
            response = self._client.send_email(
                FromEmailAddress=email.from_address,
                Destination={"ToAddresses": [email.to_address]},
                Content={"Raw": {"Data": email.raw_mime}},
                EmailTags=[{"Name": k, "Value": v} for k, v in email.tags.items()],
                ConfigurationSetName=self._configuration_set,
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", "")
            if code in _THROTTLED:
                raise SendThrottled(f"{code}: {message}".strip(": ")) from exc
            if code in _PERMANENT:
                raise SendRejected(f"{code}: {message}".strip(": ")) from exc
            raise
        return str(response["MessageId"])
