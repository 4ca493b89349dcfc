"""The capacity meter's item-size and index-write rules (bench/capacity.py), without an
emulator: DynamoDB's documented figures, computed from before and after images."""

from __future__ import annotations

import pytest

from bench.capacity import (
    IndexDef,
    Item,
    TableDef,
    index_write_units,
    item_size,
    number_size,
    projected,
    table_units_by_rule,
    value_size,
    write_units,
)

BY_STATUS = IndexDef("by_status", ("gsi1pk", "gsi1sk"), "INCLUDE", frozenset({"total"}))
KEYS_ONLY = IndexDef("by_status", ("gsi1pk", "gsi1sk"), "KEYS_ONLY")
TABLE = TableDef("sobre", ("pk", "sk"), (BY_STATUS,))


def invoice(**extra: str) -> Item:
    item: Item = {"pk": {"S": "INVOICE#1"}, "sk": {"S": "INVOICE"}}
    item.update({name: {"S": value} for name, value in extra.items()})
    return item


def test_string_size_is_utf8_bytes_of_name_and_value() -> None:
    assert item_size({"ab": {"S": "héllo"}}) == 2 + 6


@pytest.mark.parametrize(
    ("text", "size"),
    [("0", 1), ("7", 2), ("12", 2), ("123", 3), ("1200", 2), ("0.001", 2), ("-12", 3)],
)
def test_number_size_counts_two_significant_digits_a_byte_plus_one(text: str, size: int) -> None:
    assert number_size(text) == size


def test_binary_null_bool_and_set_sizes() -> None:
    assert value_size({"B": b"\x00\x01\x02"}) == 3
    assert value_size({"B": "AAEC"}) == 3  # base64 text, as on the wire
    assert value_size({"NULL": True}) == 1
    assert value_size({"BOOL": False}) == 1
    assert value_size({"SS": ["ab", "c"]}) == 3
    assert value_size({"NS": ["1", "22"]}) == 2 + 2


def test_list_and_map_carry_three_bytes_plus_one_per_element() -> None:
    assert value_size({"L": []}) == 3
    assert value_size({"M": {}}) == 3
    assert value_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (1 + 2) + (1 + 2)
    assert value_size({"M": {"k": {"S": "ab"}}}) == 3 + 1 + 1 + 2


def test_write_units_round_up_to_whole_kilobytes() -> None:
    assert [write_units(n) for n in (0, 1, 1024, 1025, 3000)] == [1, 1, 1, 2, 3]


def test_table_write_bills_the_larger_image() -> None:
    big = invoice(body="x" * 2000)
    assert table_units_by_rule(None, invoice()) == 1
    assert table_units_by_rule(big, invoice()) == 2
    assert table_units_by_rule(None, None) == 1


def test_new_entry_is_one_put_of_the_projected_size() -> None:
    after = invoice(gsi1pk="ACCT#a", gsi1sk="SENT#1", total="9" * 1500)
    assert index_write_units(None, after, TABLE, BY_STATUS) == 2  # ~1.5 KB projected


def test_item_outside_a_sparse_index_costs_nothing() -> None:
    assert index_write_units(None, invoice(total="1"), TABLE, BY_STATUS) == 0
    assert projected(invoice(gsi1pk="ACCT#a"), TABLE, BY_STATUS) is None  # no sort key


def test_key_change_is_a_delete_and_a_put() -> None:
    before = invoice(gsi1pk="ACCT#a", gsi1sk="SENT#1", total="1")
    after = invoice(gsi1pk="ACCT#a", gsi1sk="PAID#1", total="1")
    assert index_write_units(before, after, TABLE, BY_STATUS) == 2


def test_projected_attribute_change_is_one_put() -> None:
    before = invoice(gsi1pk="ACCT#a", gsi1sk="SENT#1", total="1")
    after = invoice(gsi1pk="ACCT#a", gsi1sk="SENT#1", total="2")
    assert index_write_units(before, after, TABLE, BY_STATUS) == 1


def test_unprojected_attribute_change_costs_nothing() -> None:
    before = invoice(gsi1pk="ACCT#a", gsi1sk="SENT#1", note="old")
    after = invoice(gsi1pk="ACCT#a", gsi1sk="SENT#1", note="new" * 1000)
    assert index_write_units(before, after, TABLE, BY_STATUS) == 0


def test_item_leaving_a_sparse_index_is_a_delete_of_its_old_entry() -> None:
    before = invoice(gsi1pk="ACCT#a", gsi1sk="SENT#1", total="9" * 1500)
    after = invoice(total="9" * 1500)
    assert index_write_units(before, after, TABLE, BY_STATUS) == 2  # the old entry's size


def test_include_projects_listed_attributes_and_keys_only_none() -> None:
    item = invoice(gsi1pk="ACCT#a", gsi1sk="SENT#1", total="1", note="n")
    assert set(projected(item, TABLE, BY_STATUS) or {}) == {"pk", "sk", "gsi1pk", "gsi1sk", "total"}
    assert set(projected(item, TABLE, KEYS_ONLY) or {}) == {"pk", "sk", "gsi1pk", "gsi1sk"}
    changed = {**item, "total": {"S": "2"}}
    assert index_write_units(item, changed, TABLE, BY_STATUS) == 1
    assert index_write_units(item, changed, TABLE, KEYS_ONLY) == 0


def test_all_projection_sees_every_change() -> None:
    everything = IndexDef("all", ("gsi1pk", "gsi1sk"))
    before = invoice(gsi1pk="ACCT#a", gsi1sk="SENT#1", note="old")
    after = invoice(gsi1pk="ACCT#a", gsi1sk="SENT#1", note="new")
    assert index_write_units(before, after, TABLE, everything) == 1


def test_definitions_come_from_describe_table() -> None:
    described = {
        "TableName": "sobre",
        "KeySchema": [
            {"AttributeName": "sk", "KeyType": "RANGE"},
            {"AttributeName": "pk", "KeyType": "HASH"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "by_status",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total"]},
            }
        ],
    }
    assert TableDef.from_description(described) == TABLE
    assert TABLE.kind_of({"pk": {"S": "INVOICE#1"}, "sk": {"S": "F#open#2"}}) == "F"
    assert TABLE.kind_of({"pk": {"S": "MSG#1"}, "sk": {"S": "MSG"}}) == "MSG"
