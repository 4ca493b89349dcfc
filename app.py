"""Sobre: builds the Chalice app and registers middleware and blueprints. Nothing else."""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice

from chalicelib.accounts.routes import keys_api
from chalicelib.alerts.routes import webhooks_api
from chalicelib.alerts.schedules import alert_schedule
from chalicelib.dashboard.routes import dashboard
from chalicelib.http import accept_binary_routes, remember_client_address, sobre_errors
from chalicelib.observability import lambda_context, metrics_per_invocation
from chalicelib.reports.routes import reports_api
from chalicelib.reports.schedules import report_schedule
from chalicelib.sending.routes import invoices_api
from chalicelib.sending.subscriptions import send_queue
from chalicelib.tracking import door
from chalicelib.tracking.routes import public
from chalicelib.tracking.subscriptions import ses_events

app = Chalice(app_name="sobre")
app.api.binary_types.append("application/pdf")  # the hosted invoice's download
app.register_middleware(sobre_errors, "http")  # first: it wraps all that follows
app.register_middleware(accept_binary_routes, "http")
app.register_middleware(remember_client_address, "http")  # for the failed-auth limit
# HTTP only: the other functions are called by Lambda without this module, so their
# entry points carry the same two themselves (chalicelib/observability.instrumented).
app.register_middleware(lambda_context, "http")  # Powertools' Lambda context in the logs
app.register_middleware(metrics_per_invocation, "http")  # one metrics object per invocation
app.register_blueprint(invoices_api)  # send, list and read invoices
app.register_blueprint(public)  # the pixel and the hosted invoice (no API key)
app.register_blueprint(ses_events)  # SES events from SNS
app.register_blueprint(send_queue)  # the sender function: the send queue
app.register_blueprint(reports_api)  # evidence, the events export, "remind now"
app.register_blueprint(webhooks_api)
app.register_blueprint(keys_api)  # the account's own API keys
app.register_blueprint(report_schedule)  # digests and reminders (EventBridge)
app.register_blueprint(alert_schedule)  # alert emails and webhook deliveries
app.register_blueprint(dashboard)


# The public routes again, behind the HTTP API of infra/template.yaml (payload 2.0; a
# function URL sends the same): the same app answers them (docs/DESIGN.md, "The public
# door"). The REST API keeps serving them for mail sent before the door.
@app.lambda_function(name="public_door")
def public_door(event: dict[str, Any], context: Any) -> Any:
    return door.serve(app, app.routes, event, context)
