"""The composition root: the one place that builds adapters and wires them into what
the use cases run over (``Context`` for requests, ``Jobs`` for schedules and the report
and webhook routes). Built once per Lambda container, lazily: nothing here runs at
import time, so a cold start pays only for what its first request uses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib.context import Context, Jobs
from chalicelib.core.times import parse_iso, utc_now
from chalicelib.ids import Keyring, TokenSigner
from chalicelib.observability import logger
from chalicelib.settings import Settings, get_settings

if TYPE_CHECKING:
    from chalicelib.auth import Guard
    from chalicelib.core.model import Account
    from chalicelib.core.sends import SendClaim
    from chalicelib.ports import AccountStore, ReportStore, UnprocessedStore


class _Lazy:
    """Creates the wrapped adapter on first attribute access."""

    def __init__(self, factory: Any) -> None:
        self._factory = factory
        self._target: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._target is None:
            self._target = self._factory()
        return getattr(self._target, name)


# The token keyring is read again this often, so a rotation (docs/DEPLOY.md) reaches
# every warm container within this time without a deployment.
KEYRING_SECONDS = 300.0


class _KeyringCache:
    """The keyring from SOBRE_TOKEN_SECRET, or from the SSM SecureString named by
    SOBRE_TOKEN_SECRET_PARAMETER read with one plain botocore call (no Powertools
    Parameters: it imports boto3 and s3transfer and builds a second client, ~250 ms of
    a cold start) and kept KEYRING_SECONDS. When a refresh fails, the keyring already
    read keeps verifying: a pixel must not fail because SSM did."""

    def __init__(self, settings: Settings, clock: Any = time.monotonic) -> None:
        self._settings = settings
        self._clock = clock
        self._keyring: Keyring | None = None
        self._read_at = 0.0
        self._client: Any = None

    def __call__(self) -> Keyring:
        if self._settings.token_secret:
            if self._keyring is None:
                self._keyring = Keyring.parse(self._settings.token_secret)
            return self._keyring
        if self._keyring is None or self._clock() - self._read_at >= KEYRING_SECONDS:
            try:
                self._keyring = Keyring.parse(self._read_parameter())
            except Exception:
                if self._keyring is None:
                    raise
                logger.exception("token keyring not refreshed; keeping the one read before")
            self._read_at = self._clock()
        return self._keyring

    def _read_parameter(self) -> str:
        name = self._settings.token_secret_parameter
        if not name:
            raise RuntimeError("Set SOBRE_TOKEN_SECRET or SOBRE_TOKEN_SECRET_PARAMETER.")
        if self._client is None:
            # Lazy: only deployed stages read SSM. No botocore where the environment holds
            # the credentials (Lambda): a forged token then costs no AWS SDK import.
            from chalicelib.adapters import ssm_lite

            self._client = ssm_lite.create_client(
                "ssm",
                region_name=self._settings.aws_region,
                endpoint_url=self._settings.aws_endpoint_url,
            )
        answer = self._client.get_parameter(Name=name, WithDecryption=True)
        return str(answer["Parameter"]["Value"])


def token_keys(settings: Settings) -> _KeyringCache:
    """The signer's key source: fails fast (at the first request) when none is set."""
    keys = _KeyringCache(settings)
    keys()
    return keys


def build_context(settings: Settings) -> Context:
    """Every store is made on first use: the public routes check their token before
    touching one, so a forged token costs no pynamodb or botocore import (issue 13.3)."""
    from chalicelib.observability import EmfMetrics

    def invoices() -> Any:
        from chalicelib.adapters.dynamo.invoices import DynamoInvoiceStore

        _configured(settings)
        return DynamoInvoiceStore(settings.retention_days)

    def mailer() -> Any:
        from chalicelib.adapters.ses import SesMailer

        return SesMailer(settings.configuration_set, settings.aws_region, settings.send_attempts)

    def accounts() -> Any:
        from chalicelib.adapters.cache import CachedAccountStore
        from chalicelib.adapters.dynamo.accounts import DynamoAccountStore

        _configured(settings)
        return CachedAccountStore(DynamoAccountStore(), settings.api_key_cache_seconds)

    def unprocessed() -> Any:
        from chalicelib.adapters.dynamo.unprocessed import DynamoUnprocessedStore

        _configured(settings)
        return DynamoUnprocessedStore(settings.retention_days)

    def pdfs() -> Any:
        from chalicelib.adapters.s3 import S3PdfStore

        return S3PdfStore(settings.pdf_bucket, settings.aws_region)

    def deferred() -> Any:
        from chalicelib.adapters.sqs import SqsFetchQueue

        return SqsFetchQueue(settings.fetch_queue_url, settings.aws_region)

    def sends() -> Any:
        from chalicelib.adapters.sqs import SqsSendQueue

        return SqsSendQueue(settings.send_queue_url, settings.aws_region)

    return Context(
        settings=settings,
        invoices=_Lazy(invoices),
        accounts=_Lazy(accounts),
        unprocessed=_Lazy(unprocessed),
        mailer=_Lazy(mailer),
        pdfs=_Lazy(pdfs),
        signer=TokenSigner(token_keys(settings)),
        metrics=EmfMetrics(),
        clock=utc_now,
        # Reports, reminders and alerts: status crossings wait here for the scheduler.
        alerts=_Lazy(lambda: report_store(settings)),
        deferred=_Lazy(deferred) if settings.fetch_queue_url else None,
        sends=_Lazy(sends),  # SOBRE_SEND_QUEUE_URL missing: the first send says so
    )


def _report_store() -> ReportStore:
    from chalicelib.adapters.dynamo.reports import DynamoReportStore  # lazy: only on a crossing

    return DynamoReportStore()


@lru_cache(maxsize=1)
def context() -> Context:
    return build_context(get_settings())


def build_jobs(ctx: Context) -> Jobs:
    from chalicelib.adapters.webhook_http import HttpWebhookPoster

    return Jobs(ctx, report_store(ctx.settings), HttpWebhookPoster(ctx.settings.stage))


def jobs(scheduled_at: str | datetime | None = None) -> Jobs:
    """The jobs over DynamoDB, SES and HTTP; ``scheduled_at`` (a scheduled event's
    ``time``) fixes their clock, so a run is reproducible."""
    ctx = context()
    if scheduled_at is not None:
        fixed = parse_iso(scheduled_at) if isinstance(scheduled_at, str) else scheduled_at
        ctx = replace(ctx, clock=lambda: fixed)
    return build_jobs(ctx)


@lru_cache(maxsize=1)
def guard() -> Guard:
    """The rate limits' per-container state, over the failed-authentication counter."""
    from chalicelib.adapters.dynamo.accounts import DynamoAuthFailures
    from chalicelib.auth import Guard

    rate = context().settings.key_requests_per_second  # and the models know the table
    return Guard(DynamoAuthFailures(), key_rate=rate, key_burst=2 * rate)


def authenticate(authorization: str | None) -> Account:
    """The account of an ``Authorization: Bearer <key>`` header (``Unauthorized`` or
    ``RateLimited`` otherwise): every authenticated route starts here. The client's
    address is the request's (``http.remember_client_address``)."""
    from chalicelib.auth import authenticate as account_for_key
    from chalicelib.http import CLIENT_ADDRESS

    return account_for_key(context(), guard(), authorization, CLIENT_ADDRESS.get())


# -- for operator commands (tools/admin.py): no token secret needed, nothing cached ------


def _configured(settings: Settings) -> None:
    from chalicelib.adapters.dynamo import table  # not the models: no pynamodb yet

    table.configure(settings.table_name, settings.aws_region)


def account_store(settings: Settings) -> AccountStore:
    from chalicelib.adapters.dynamo.accounts import DynamoAccountStore

    _configured(settings)
    return DynamoAccountStore()


def unprocessed_store(settings: Settings) -> UnprocessedStore:
    from chalicelib.adapters.dynamo.unprocessed import DynamoUnprocessedStore

    _configured(settings)
    return DynamoUnprocessedStore(settings.retention_days)


def report_store(settings: Settings) -> ReportStore:
    _configured(settings)
    return _report_store()


def all_invoice_ids(settings: Settings) -> Iterator[str]:
    """Every stored invoice id, by scanning the table: for operator commands
    (``make reclassify``), never for a request path."""
    from chalicelib.adapters.dynamo.invoices import DynamoInvoiceStore

    _configured(settings)
    return DynamoInvoiceStore(settings.retention_days).invoice_ids()


def all_unsettled_sends(settings: Settings) -> Iterator[tuple[str, SendClaim]]:
    """Every send claim without an outcome, by scanning the table: for operator
    commands (``tools.admin sends``), never for a request path."""
    from chalicelib.adapters.dynamo.invoices import DynamoInvoiceStore

    _configured(settings)
    return DynamoInvoiceStore(settings.retention_days).unsettled_sends()
