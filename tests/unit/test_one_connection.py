"""Every model speaks through the invoice model's pynamodb connection: one botocore
session and one client per container. A second connection builds a second session,
which loads the endpoint and service data again (~100 ms of a cold start, issue 13.5)."""

from __future__ import annotations

from chalicelib.adapters.dynamo import models


def test_every_model_shares_the_invoice_models_connection() -> None:
    models.configure("sobre-test", "us-east-1")
    shared = models.InvoiceItem._get_connection()
    assert {
        model.__name__ for model in models.MODELS if model._get_connection() is not shared
    } == set()
