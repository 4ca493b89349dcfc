"""The stage's table is configured once for the low-level client and the pynamodb
models alike, whether the models (a lazy module) have loaded yet or not."""

from __future__ import annotations

import subprocess
import sys

from chalicelib.adapters.dynamo import models, table
from tests.emulators import ROOT


def test_configuring_points_the_loaded_models_and_the_client_at_one_table() -> None:
    try:
        table.configure("sobre-a", "eu-west-1")
        assert (table.name(), table.region()) == ("sobre-a", "eu-west-1")
        assert {(m.Meta.table_name, m.Meta.region) for m in models.MODELS} == {
            ("sobre-a", "eu-west-1")
        }
        models.configure("sobre-b", "us-east-2")  # the models' own entry: the same
        assert (table.name(), table.region()) == ("sobre-b", "us-east-2")
        assert {m.Meta.table_name for m in models.MODELS} == {"sobre-b"}
    finally:
        models.configure("sobre", "us-east-1")


def test_models_that_load_later_take_the_table_configured_before() -> None:
    code = (
        "import sys\n"
        "from chalicelib.adapters.dynamo import table, invoices\n"
        "table.configure('sobre-later', 'eu-west-2')\n"
        "assert 'pynamodb' not in sys.modules, 'the models loaded early'\n"
        "from chalicelib.adapters.dynamo import models\n"
        "print(models.InvoiceItem.Meta.table_name, models.FactItem.Meta.region)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert run.stdout.split() == ["sobre-later", "eu-west-2"]
