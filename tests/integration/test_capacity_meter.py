"""The benchmarks' capacity meter against dynalite: reads are billed as DynamoDB bills
them, including the read of a page that finds nothing (which dynalite reports as 0)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from bench.capacity import METER
from tests.emulators import FAKE_CREDENTIALS, dynalite_server

TABLE = "meter"


@pytest.fixture(scope="module")
def dynamodb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with dynalite_server(tmp_path_factory.mktemp("meter")) as url:
        METER.install()  # hooks the default session, which boto3.client below uses
        try:
            client = boto3.client(
                "dynamodb",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            )
            client.create_table(
                TableName=TABLE,
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            client.put_item(TableName=TABLE, Item={"pk": {"S": "full"}, "sk": {"S": "1"}})
            yield client
        finally:
            METER.uninstall()


def _query_units(client: Any, pk: str, consistent: bool) -> float:
    with METER.measure() as usage:
        client.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=consistent,
        )
    return usage.rru


@pytest.mark.parametrize(("consistent", "units"), [(True, 1.0), (False, 0.5)])
def test_a_query_that_finds_nothing_is_billed_one_read(
    dynamodb: Any, consistent: bool, units: float
) -> None:
    assert _query_units(dynamodb, "empty", consistent) == units


@pytest.mark.parametrize(("consistent", "units"), [(True, 1.0), (False, 0.5)])
def test_a_query_of_one_small_item_is_billed_as_reported(
    dynamodb: Any, consistent: bool, units: float
) -> None:
    assert _query_units(dynamodb, "full", consistent) == units
