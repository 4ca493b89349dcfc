"""The PDF store over S3 (``ports.PdfStore``): one private object per invoice, encrypted
by the bucket, expired by its lifecycle rule. boto3's S3 client loads on first use: the
pixel and the SES events never need it."""

from __future__ import annotations

from functools import cached_property
from typing import Any


class S3PdfStore:
    def __init__(self, bucket: str, region: str) -> None:
        self._bucket = bucket
        self._region = region

    @cached_property
    def _s3(self) -> Any:
        import boto3  # lazy: see the module's docstring
        from botocore.config import Config

        # Virtual-host addressing would need DNS for the bucket name; path style works
        # against AWS and the local emulator alike.
        return boto3.client(
            "s3",
            region_name=self._region,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def put(self, key: str, pdf: bytes, filename: str) -> None:
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=pdf,
            ContentType="application/pdf",
            ContentDisposition=f'attachment; filename="{filename}"',
        )

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            answer = self._s3.get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            # Without s3:ListBucket (not granted), S3 answers a missing key with 403.
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "AccessDenied", "403"):
                return None
            raise
        body: bytes = answer["Body"].read()
        return body

    def url(self, key: str, seconds: int) -> str:
        link: str = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=seconds
        )
        return link
