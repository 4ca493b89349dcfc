"""The table is defined once, in infra/template.yaml; the pynamodb models must agree."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import TTLAttribute

from chalicelib.adapters.dynamo import models
from infra.local_stack import create_table_args, table_properties

MODELS = models.MODELS


def key_schema(entries: list[dict[str, str]]) -> dict[str, str]:
    return {e["KeyType"]: e["AttributeName"] for e in entries}


def test_every_model_uses_the_tables_primary_key() -> None:
    expected = key_schema(table_properties()["KeySchema"])
    for model in MODELS:
        attributes = model.get_attributes()
        keys = {
            "HASH": next(n for n, a in attributes.items() if a.is_hash_key),
            "RANGE": next(n for n, a in attributes.items() if a.is_range_key),
        }
        assert keys == expected, model.__name__


def test_only_the_invoice_item_is_indexed() -> None:
    # Reports, tasks, markers, webhooks and deliveries live under the table's own key.
    assert [model for model in MODELS if model._indexes] == [models.InvoiceItem]


def test_indexes_match_the_template() -> None:
    template: dict[str, Any] = {
        gsi["IndexName"]: gsi for gsi in table_properties()["GlobalSecondaryIndexes"]
    }
    # Every index the model declares (pynamodb collects them in ``_indexes``), so that
    # one the template lacks, or one the model lost, fails here.
    indexes = {index.Meta.index_name: index for index in models.InvoiceItem._indexes.values()}
    assert set(indexes) == set(template) == {"by_status"}
    assert indexes["by_status"] is models.InvoiceItem.by_status
    for name, index in indexes.items():
        schema = index._get_schema()
        assert key_schema(schema["key_schema"]) == key_schema(template[name]["KeySchema"])
        projection = template[name]["Projection"]
        assert index.Meta.projection.projection_type == projection["ProjectionType"]
        assert sorted(index.Meta.projection.non_key_attributes) == sorted(
            projection["NonKeyAttributes"]
        )
        # Every projected attribute is one the model actually writes.
        assert set(projection["NonKeyAttributes"]) <= set(models.InvoiceItem.get_attributes())


def test_ttl_attribute_matches_the_template() -> None:
    ttl = table_properties()["TimeToLiveSpecification"]
    assert ttl["Enabled"] is True
    for model in MODELS:
        ttl_attributes = [
            n for n, a in model.get_attributes().items() if isinstance(a, TTLAttribute)
        ]
        assert ttl_attributes in ([], [ttl["AttributeName"]]), model.__name__
    assert "expires_at" in models.InvoiceItem.get_attributes()


def test_key_attributes_are_declared_with_their_types() -> None:
    declared = {
        d["AttributeName"]: d["AttributeType"] for d in table_properties()["AttributeDefinitions"]
    }
    args = create_table_args("t")
    used = {e["AttributeName"] for e in args["KeySchema"]} | {
        e["AttributeName"] for gsi in args["GlobalSecondaryIndexes"] for e in gsi["KeySchema"]
    }
    assert used == set(declared)
    assert set(declared.values()) == {"S"}
    for name in used:
        attribute = models.InvoiceItem.get_attributes()[name]
        assert attribute.attr_type == "S", name
