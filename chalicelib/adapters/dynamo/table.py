"""The stage's table: its name and region, set by ``configure`` before any store is
used. Kept apart from the pynamodb models (models.py), which read it when they load:
the public routes use the table through its low-level client only and never load
pynamodb (nor botocore under it) at a cold start."""

from __future__ import annotations

import sys
from types import ModuleType

_table = {"name": "sobre", "region": "us-east-1"}


def configure(table_name: str, region: str) -> None:
    _table.update(name=table_name, region=region)
    models = sys.modules.get("chalicelib.adapters.dynamo.models")
    # Loaded: a lazy module still waiting is another type (and would load if asked);
    # it points the models itself when it loads.
    if type(models) is ModuleType and hasattr(models, "point_models"):
        models.point_models(table_name, region)


def name() -> str:
    return _table["name"]


def region() -> str:
    return _table["region"]
