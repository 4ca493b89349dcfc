"""Builds the production ``Context`` once per Lambda container, lazily: nothing here
runs at import time, so a cold start pays only for what its first request uses."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from chalicelib.ids import TokenSigner
from chalicelib.model import utc_now
from chalicelib.service import Context
from chalicelib.settings import Settings, get_settings


class _Lazy:
    """Creates the wrapped adapter on first attribute access."""

    def __init__(self, factory: Any) -> None:
        self._factory = factory
        self._target: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._target is None:
            self._target = self._factory()
        return getattr(self._target, name)


def token_secret(settings: Settings) -> bytes:
    if settings.token_secret:
        return settings.token_secret.encode("utf-8")
    if settings.token_secret_parameter:
        from aws_lambda_powertools.utilities.parameters import get_parameter

        # Cached by Powertools for 5 minutes; decrypted SecureString.
        return str(get_parameter(settings.token_secret_parameter, decrypt=True)).encode()
    raise RuntimeError("Set SOBRE_TOKEN_SECRET or SOBRE_TOKEN_SECRET_PARAMETER.")


def build_context(settings: Settings) -> Context:
    from chalicelib import dynamo

    dynamo.configure(settings.table_name, settings.aws_region)

    def mailer() -> Any:
        from chalicelib.mailer import SesMailer

        return SesMailer(settings.configuration_set, settings.aws_region, settings.send_attempts)

    def accounts() -> Any:
        from chalicelib.cache import CachedAccountStore

        return CachedAccountStore(dynamo.DynamoAccountStore(), settings.api_key_cache_seconds)

    from chalicelib.observability import PowertoolsMetrics

    return Context(
        settings=settings,
        invoices=dynamo.DynamoInvoiceStore(settings.retention_days),
        accounts=_Lazy(accounts),
        unprocessed=_Lazy(lambda: dynamo.DynamoUnprocessedStore(settings.retention_days)),
        mailer=_Lazy(mailer),
        signer=TokenSigner(token_secret(settings)),
        metrics=PowertoolsMetrics(),
        clock=utc_now,
        # Reports, reminders and alerts: status crossings wait here for the scheduler.
        alerts=_Lazy(_report_store),
    )


def _report_store() -> Any:
    from chalicelib.dynamo_reports import DynamoReportStore  # lazy: only on a crossing

    return DynamoReportStore()


@lru_cache(maxsize=1)
def context() -> Context:
    return build_context(get_settings())
