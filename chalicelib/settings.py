"""Settings: read once from the environment into one typed object.

Nothing else in Sobre reads ``os.environ``; every setting is declared per stage in
``.chalice/config.json`` (and, for the local stack, by ``infra/local_stack.py``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

# Fixed resource names: the app registers its SNS subscription by topic name at
# package time, when no stage environment exists yet.
EVENTS_TOPIC_NAME = "sobre-ses-events"
FETCH_QUEUE_NAME = "sobre-fetches"
SEND_QUEUE_NAME = "sobre-sends"


@dataclass(frozen=True)
class Settings:
    table_name: str
    base_url: str
    configuration_set: str
    events_topic_name: str
    token_secret: str | None
    token_secret_parameter: str | None
    aws_region: str
    default_locale: str
    retention_days: int  # tracking data and PDFs, from the invoice's creation
    pdf_bucket: str
    max_body_bytes: int
    send_attempts: int
    api_key_cache_seconds: int
    stage: str
    # The public routes' storage deadline, and where a write that misses it goes.
    fetch_deadline_seconds: float = 0.8
    fetch_queue_url: str | None = None
    # The send queue, and how the sender function spends SES's rate: the account's
    # maximum send rate (messages a second) shared by ``sender_concurrency`` senders at
    # once (the event source's MaximumConcurrency), each pacing itself to its share; a
    # message SES still throttles comes back, and after ``send_receives`` receives (the
    # queue's maxReceiveCount) its recipient is failed and it moves to the DLQ.
    send_queue_url: str | None = None
    ses_send_rate: float = 14.0
    sender_concurrency: int = 2
    send_receives: int = 5
    # Set only for local emulators and tests; boto3 and pynamodb read it themselves.
    aws_endpoint_url: str | None = None
    # Requests a second per API key and container, bursts of twice that (chalicelib/auth.py).
    key_requests_per_second: float = 25.0

    @staticmethod
    def from_env(env: Mapping[str, str]) -> Settings:
        def get(name: str, default: str) -> str:
            value = env.get(name, "").strip()
            return value or default

        return Settings(
            table_name=get("SOBRE_TABLE_NAME", "sobre"),
            base_url=get("SOBRE_BASE_URL", "http://localhost:8000").rstrip("/"),
            configuration_set=get("SOBRE_CONFIGURATION_SET", "sobre"),
            events_topic_name=EVENTS_TOPIC_NAME,
            token_secret=env.get("SOBRE_TOKEN_SECRET") or None,
            token_secret_parameter=env.get("SOBRE_TOKEN_SECRET_PARAMETER") or None,
            aws_region=get("AWS_REGION", get("AWS_DEFAULT_REGION", "us-east-1")),
            default_locale=get("SOBRE_DEFAULT_LOCALE", "en"),
            retention_days=int(get("SOBRE_RETENTION_DAYS", "180")),
            pdf_bucket=get("SOBRE_PDF_BUCKET", "sobre-pdfs"),
            # API Gateway refuses bodies over 10 MB; a 7 MB PDF is 9.4 MB in base64.
            max_body_bytes=int(get("SOBRE_MAX_BODY_BYTES", "10000000")),
            send_attempts=int(get("SOBRE_SEND_ATTEMPTS", "4")),
            api_key_cache_seconds=int(get("SOBRE_API_KEY_CACHE_SECONDS", "5")),
            stage=get("SOBRE_STAGE", "local"),
            fetch_deadline_seconds=int(get("SOBRE_FETCH_DEADLINE_MS", "800")) / 1000,
            fetch_queue_url=env.get("SOBRE_FETCH_QUEUE_URL") or None,
            send_queue_url=env.get("SOBRE_SEND_QUEUE_URL") or None,
            ses_send_rate=float(get("SOBRE_SES_SEND_RATE", "14")),
            sender_concurrency=max(1, int(get("SOBRE_SENDER_CONCURRENCY", "2"))),
            send_receives=max(1, int(get("SOBRE_SEND_RECEIVES", "5"))),
            aws_endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            key_requests_per_second=float(get("SOBRE_KEY_REQUESTS_PER_SECOND", "25")),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return Settings.from_env(os.environ)
