"""Sobre: builds the Chalice app and registers middleware and blueprints. Nothing else."""

from __future__ import annotations

from chalice.app import Chalice, ConvertToMiddleware

from chalicelib.api import api
from chalicelib.dashboard import dashboard
from chalicelib.http import accept_binary_routes
from chalicelib.observability import logger, metrics
from chalicelib.public import public
from chalicelib.scheduled import scheduled
from chalicelib.sns_events import events
from chalicelib.webhooks_api import reports_api

app = Chalice(app_name="sobre")
app.api.binary_types.append("application/pdf")  # the hosted invoice's download
app.register_middleware(accept_binary_routes, "http")
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context))
app.register_middleware(ConvertToMiddleware(metrics.log_metrics))
app.register_blueprint(api)
app.register_blueprint(public)
app.register_blueprint(events)
app.register_blueprint(reports_api)  # reports, reminders, alerts, evidence
app.register_blueprint(scheduled)  # scheduled jobs (EventBridge)
app.register_blueprint(dashboard)
