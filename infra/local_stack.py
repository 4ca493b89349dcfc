"""Provisions Sobre's resources in a local AWS emulator (moto server) or dynalite from
the same definitions as production (infra/template.yaml).

    python -m infra.local_stack provision     # against $AWS_ENDPOINT_URL
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import boto3
import yaml

from chalicelib.settings import FETCH_QUEUE_NAME, SEND_QUEUE_NAME

TEMPLATE = Path(__file__).with_name("template.yaml")
DEFAULT_SENDERS = ("billing@example.com",)
DEFAULT_PDF_BUCKET = "sobre-pdfs"


def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(TEMPLATE.read_text())
    return loaded


def table_properties() -> dict[str, Any]:
    props: dict[str, Any] = template()["Resources"]["SobreTable"]["Properties"]
    return props


def create_table_args(table_name: str) -> dict[str, Any]:
    """``CreateTable`` arguments equal to the template's table, on demand (the
    template's default ``TableCapacity``: emulators bill nothing)."""
    props = table_properties()
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "GlobalSecondaryIndexes": [
            {k: gsi[k] for k in ("IndexName", "KeySchema", "Projection")}
            for gsi in props["GlobalSecondaryIndexes"]
        ],
    }


def create_table(table_name: str, region: str) -> None:
    client = boto3.client("dynamodb", region_name=region)
    existing = client.list_tables()["TableNames"]
    if table_name in existing:
        return
    client.create_table(**create_table_args(table_name))
    wait_until_active(client, table_name)
    ttl = table_properties()["TimeToLiveSpecification"]
    try:
        client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)
    except client.exceptions.ClientError as exc:  # dynalite has no TTL
        if "UnknownOperation" not in str(exc):
            raise


def wait_until_active(client: Any, table_name: str, timeout: float = 60.0) -> None:
    # The stock waiter polls every 20 s; emulators are ready in milliseconds.
    deadline = time.monotonic() + timeout
    while client.describe_table(TableName=table_name)["Table"]["TableStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise TimeoutError(f"table {table_name} is not active after {timeout}s")
        time.sleep(0.05)


def provision_messaging(
    region: str, configuration_set: str, senders: tuple[str, ...] = DEFAULT_SENDERS
) -> str:
    """SNS topic, SES configuration set and verified senders; returns the topic ARN."""
    resources = template()["Resources"]
    topic_name = resources["SesEventsTopic"]["Properties"]["TopicName"]
    topic_arn: str = boto3.client("sns", region_name=region).create_topic(Name=topic_name)[
        "TopicArn"
    ]
    sesv2 = boto3.client("sesv2", region_name=region)
    with contextlib.suppress(sesv2.exceptions.AlreadyExistsException):
        sesv2.create_configuration_set(ConfigurationSetName=configuration_set)
    for sender in senders:
        verify_sender(sender, region)
    create_pdf_bucket(DEFAULT_PDF_BUCKET, region)
    return topic_arn


# A failed batch comes back after the visibility timeout: the template's 360 s suit
# Lambda; locally a few seconds show a retry while you watch.
LOCAL_VISIBILITY_SECONDS = 5


def create_fetch_queue(
    region: str, name: str = FETCH_QUEUE_NAME, resource: str = "FetchQueue"
) -> str:
    """The deferred-fetch queue (or the template's ``resource``, another queue) and its
    dead-letter queue, redriven as the template says; returns the queue's URL."""
    props = template()["Resources"][resource]["Properties"]
    sqs = boto3.client("sqs", region_name=region)
    dead = sqs.create_queue(QueueName=f"{name}-dead")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = {
        "deadLetterTargetArn": dead_arn,
        "maxReceiveCount": str(props["RedrivePolicy"]["maxReceiveCount"]),
    }
    url: str = sqs.create_queue(
        QueueName=name,
        Attributes={
            "MessageRetentionPeriod": str(props["MessageRetentionPeriod"]),
            "VisibilityTimeout": str(LOCAL_VISIBILITY_SECONDS),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    return url


def create_send_queue(region: str, name: str = SEND_QUEUE_NAME) -> str:
    """The send queue and its dead-letter queue, as the template says."""
    return create_fetch_queue(region, name, "SendQueue")


def create_pdf_bucket(bucket: str, region: str) -> None:
    """The PDF bucket with the template's encryption, public access block and lifecycle
    (the expiry as the template's default retention)."""
    props = template()["Resources"]["PdfBucket"]["Properties"]
    s3 = boto3.client("s3", region_name=region)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)
    # CloudFormation's ServerSideEncryptionByDefault is the API's Apply... of the same.
    rules = [
        {
            "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
            "BucketKeyEnabled": rule["BucketKeyEnabled"],
        }
        for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    ]
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules})
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
    )
    days = template()["Parameters"]["RetentionDays"]["Default"]
    lifecycle = [
        {
            "ID": rule["Id"],
            "Status": rule["Status"],
            "Filter": {"Prefix": ""},
            "Expiration": {"Days": int(days)},
            "AbortIncompleteMultipartUpload": {
                "DaysAfterInitiation": rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
            },
        }
        for rule in props["LifecycleConfiguration"]["Rules"]
    ]
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": lifecycle}
    )


def verify_sender(address: str, region: str) -> None:
    # moto marks identities verified at once; in AWS this sends a verification mail.
    boto3.client("ses", region_name=region).verify_email_identity(EmailAddress=address)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["provision"])
    parser.add_argument("--table", default="sobre")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--configuration-set", default="sobre")
    args = parser.parse_args()
    create_table(args.table, args.region)
    print(provision_messaging(args.region, args.configuration_set))
    print(create_fetch_queue(args.region))
    print(create_send_queue(args.region))


if __name__ == "__main__":
    main()
