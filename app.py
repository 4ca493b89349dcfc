"""Sobre: builds the Chalice app and registers middleware and blueprints. Nothing else."""

from __future__ import annotations

from chalice.app import ConvertToMiddleware

from chalicelib.api import api
from chalicelib.http import SobreChalice
from chalicelib.observability import logger, metrics
from chalicelib.sns_events import events

app = SobreChalice(app_name="sobre")
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context))
app.register_middleware(ConvertToMiddleware(metrics.log_metrics))
app.register_blueprint(api)
app.register_blueprint(events)
