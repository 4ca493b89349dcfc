"""Accounts and API keys over DynamoDB (``ports.AccountStore``). Writing an account
also lists it in the directory the scheduled jobs read (no Scan)."""

from __future__ import annotations

import json
from dataclasses import asdict

from chalicelib.adapters.dynamo.models import AccountDirectoryItem, AccountItem, ApiKeyItem
from chalicelib.core.model import Account

ACCOUNTS_PK = "ACCOUNTS"


class DynamoAccountStore:
    def get_account(self, account_id: str) -> Account | None:
        try:
            item = AccountItem.get(f"ACCOUNT#{account_id}", "ACCOUNT")
        except AccountItem.DoesNotExist:
            return None
        return Account(**json.loads(item.data))

    def put_account(self, account: Account) -> None:
        AccountItem(
            pk=f"ACCOUNT#{account.id}", sk="ACCOUNT", data=json.dumps(asdict(account))
        ).save()
        # The scheduled jobs enumerate accounts from a directory, never a Scan.
        AccountDirectoryItem(pk=ACCOUNTS_PK, sk=account.id).save()

    def account_id_for_key(self, key_hash: str) -> str | None:
        try:
            item = ApiKeyItem.get(f"APIKEY#{key_hash}", "APIKEY")
        except ApiKeyItem.DoesNotExist:
            return None
        return None if item.revoked else item.account_id

    def put_key(self, key_hash: str, account_id: str, created_at: str) -> None:
        ApiKeyItem(
            pk=f"APIKEY#{key_hash}", sk="APIKEY", account_id=account_id, created_at=created_at
        ).save(condition=ApiKeyItem.pk.does_not_exist())
