"""The DynamoDB stores. Their pynamodb models (models.py, and botocore under pynamodb)
are a lazy module: ``from chalicelib.adapters.dynamo import models`` gives it without
loading it, and it loads with the first model used. The public routes use none: they
call the table through its low-level client (``helpers.table_client``), so a cold
container's first pixel loads neither (tests/integration/test_cold_pixel.py)."""

from __future__ import annotations

from chalicelib.lazy import lazy_module

lazy_module("chalicelib.adapters.dynamo.models")
