"""Accounts and API keys over DynamoDB (``ports.AccountStore``). Writing an account
also lists it in the directory the scheduled jobs read (no Scan).

A key is two items: ``APIKEY#<sha256 of the secret>`` (what authenticating reads, one
GetItem) and ``ACCOUNT#<id>`` / ``KEY#<key id>`` (what listing reads, one Query of the
account's partition, and where ``last_used_at`` is kept)."""

from __future__ import annotations

import json
from dataclasses import asdict

from chalicelib.adapters.dynamo import (
    models,  # lazy: see __init__.py
    table,
)
from chalicelib.adapters.dynamo.helpers import conditional, table_client
from chalicelib.core.keys import ApiKey
from chalicelib.core.model import Account

ACCOUNTS_PK = "ACCOUNTS"
KEY_PREFIX = "KEY#"


def _key(item: models.AccountKeyItem) -> ApiKey:
    return ApiKey(
        id=item.sk.removeprefix(KEY_PREFIX),
        account_id=item.pk.removeprefix("ACCOUNT#"),
        name=item.name,
        created_at=item.created_at,
        last_used_at=item.last_used_at,
        revoked_at=item.revoked_at,
    )


class DynamoAccountStore:
    def get_account(self, account_id: str) -> Account | None:
        # The low-level client: the pixel's first read of a container (no pynamodb).
        answer = table_client().get_item(
            TableName=table.name(),
            Key={"pk": {"S": f"ACCOUNT#{account_id}"}, "sk": {"S": "ACCOUNT"}},
        )
        item = answer.get("Item")
        return Account(**json.loads(item["data"]["S"])) if item else None

    def put_account(self, account: Account) -> None:
        models.AccountItem(
            pk=f"ACCOUNT#{account.id}", sk="ACCOUNT", data=json.dumps(asdict(account))
        ).save()
        # The scheduled jobs enumerate accounts from a directory, never a Scan.
        models.AccountDirectoryItem(pk=ACCOUNTS_PK, sk=account.id).save()

    def key_for_hash(self, key_hash: str) -> ApiKey | None:
        try:
            # Consistent: a revocation is seen by the next read, so the cache's TTL alone
            # bounds how long a revoked key keeps working.
            item = models.ApiKeyItem.get(f"APIKEY#{key_hash}", "APIKEY", consistent_read=True)
        except models.ApiKeyItem.DoesNotExist:
            return None
        revoked_at = item.revoked_at or (item.created_at if item.revoked else None)
        return ApiKey(
            id=item.key_id or "",
            account_id=item.account_id,
            name=item.name or "",
            created_at=item.created_at,
            revoked_at=revoked_at,
        )

    def put_key(self, key_hash: str, key: ApiKey) -> None:
        # The listing entry first: a key that authenticates is always listed (and so
        # revocable); a failure between the two leaves a listed key that never worked.
        models.AccountKeyItem(
            pk=f"ACCOUNT#{key.account_id}",
            sk=f"{KEY_PREFIX}{key.id}",
            key_hash=key_hash,
            name=key.name,
            created_at=key.created_at,
        ).save(condition=models.AccountKeyItem.pk.does_not_exist())
        models.ApiKeyItem(
            pk=f"APIKEY#{key_hash}",
            sk="APIKEY",
            account_id=key.account_id,
            created_at=key.created_at,
            key_id=key.id,
            name=key.name,
        ).save(condition=models.ApiKeyItem.pk.does_not_exist())

    def list_keys(self, account_id: str) -> list[ApiKey]:
        items = models.AccountKeyItem.query(
            f"ACCOUNT#{account_id}", models.AccountKeyItem.sk.startswith(KEY_PREFIX)
        )
        return [_key(item) for item in items]

    def revoke_key(self, account_id: str, key_id: str, at: str) -> ApiKey | None:
        try:
            entry = models.AccountKeyItem.get(
                f"ACCOUNT#{account_id}", f"{KEY_PREFIX}{key_id}", consistent_read=True
            )
        except models.AccountKeyItem.DoesNotExist:
            return None
        if entry.revoked_at is None:
            # The lookup item decides authentication: it is revoked first.
            conditional(
                "update_item",
                Key={"pk": {"S": f"APIKEY#{entry.key_hash}"}, "sk": {"S": "APIKEY"}},
                UpdateExpression="SET revoked = :yes, revoked_at = :at",
                ConditionExpression="attribute_exists(pk) AND account_id = :account",
                ExpressionAttributeValues={
                    ":yes": {"BOOL": True},
                    ":at": {"S": at},
                    ":account": {"S": account_id},
                },
            )
            from pynamodb.exceptions import UpdateError  # loaded with the entry's model

            try:
                entry.update(
                    actions=[models.AccountKeyItem.revoked_at.set(at)],
                    condition=models.AccountKeyItem.revoked_at.does_not_exist(),
                )
            except UpdateError as exc:
                if exc.cause_response_code != "ConditionalCheckFailedException":
                    raise
                entry.refresh(consistent_read=True)  # revoked meanwhile: keep that time
        return _key(entry)

    def touch_key(self, key: ApiKey, now: str, stale_before: str) -> None:
        # Conditional, so that many containers write it at most once per resolution;
        # a failed condition is the common case and changes nothing.
        conditional(
            "update_item",
            Key={"pk": {"S": f"ACCOUNT#{key.account_id}"}, "sk": {"S": f"{KEY_PREFIX}{key.id}"}},
            UpdateExpression="SET last_used_at = :now",
            ConditionExpression=(
                "attribute_exists(pk) AND "
                "(attribute_not_exists(last_used_at) OR last_used_at < :stale)"
            ),
            ExpressionAttributeValues={":now": {"S": now}, ":stale": {"S": stale_before}},
        )


class DynamoAuthFailures:
    """``ports.AuthFailures``: one item per client network and minute, counted with ADD
    (concurrent failures never conflict) and gone by TTL. Only failures write."""

    def add_failure(self, network: str, window: str, expires_at: int) -> int:
        answer = table_client().update_item(
            TableName=table.name(),
            Key={"pk": {"S": f"AUTHFAIL#{network}"}, "sk": {"S": window}},
            UpdateExpression="ADD failures :one SET expires_at = :expires",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":expires": {"N": str(expires_at)},
            },
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["failures"]["N"])
