"""Published pyramids in an S3-compatible object store (the store_url setting, s3://bucket/prefix).

A pyramid is published under `<prefix>/<key>/`, the key being the image identity of the disk cache (source, size,
times, tile size, format): its level files and checksums first, its manifest.json last, with a conditional write
(If-None-Match: *). So an object under a key never changes once the manifest names it, a half-uploaded pyramid is
never seen (no manifest), and of two builders of the same image only the first publishes; the second adopts it.

The client is boto3: it reads the endpoint and credentials the usual AWS way (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, profiles, instance roles), is thread-safe, does ranged GETs and conditional PUTs, and was
already in most scientific environments. Timeouts are short: a store that does not answer makes the request fail
with StoreUnavailable (503 with Retry-After) in seconds instead of holding a worker thread.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import StoreUnavailable
from . import manifest as manifests
from .manifest import Manifest

MANIFEST = "manifest.json"
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 30.0


def parse_url(url: str) -> tuple[str, str]:
    """s3://bucket/some/prefix -> ("bucket", "some/prefix")."""
    parts = urlsplit(url)
    return parts.netloc, parts.path.strip("/")


class ObjectStore:
    def __init__(self, url: str) -> None:
        import boto3
        from botocore.config import Config

        self.url = url
        self.bucket, self.prefix = parse_url(url)
        config = Config(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                        retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=32)
        self.client = boto3.session.Session().client("s3", config=config)

    def _name(self, key: str, name: str) -> str:
        return f"{self.prefix}/{key}/{name}" if self.prefix else f"{key}/{name}"

    def _call(self, what: str, method: Any, **kwargs: Any) -> Any:
        """One S3 call; an unreachable or failing store becomes StoreUnavailable, a missing object None."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(Bucket=self.bucket, **kwargs)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise
            raise StoreUnavailable(f"the pyramid store refused to {what} ({code}); try again later") from None
        except BotoCoreError:
            raise StoreUnavailable(f"the pyramid store cannot be reached to {what}; try again later") from None

    def manifest(self, key: str) -> Manifest | None:
        """The published manifest of key, or None if no pyramid is published under it."""
        response = self._call("read a manifest", self.client.get_object, Key=self._name(key, MANIFEST))
        if response is None:
            return None
        try:
            manifest = json.loads(response["Body"].read())
        except ValueError:
            return None
        return manifests.parse(manifest)

    def read_range(self, key: str, name: str, offset: int, length: int) -> bytes:
        """Bytes [offset, offset + length) of one published file: one ranged GET."""
        response = self._call("read a tile", self.client.get_object, Key=self._name(key, name),
                              Range=f"bytes={offset}-{offset + length - 1}")
        if response is None:
            raise StoreUnavailable("a published pyramid is missing a file in the store; try again later")
        from botocore.exceptions import BotoCoreError

        try:
            data: bytes = response["Body"].read()
        except BotoCoreError:
            raise StoreUnavailable("the pyramid store stopped answering; try again later") from None
        return data

    def read(self, key: str, name: str) -> bytes:
        response = self._call("read a file", self.client.get_object, Key=self._name(key, name))
        if response is None:
            raise StoreUnavailable("a published pyramid is missing a file in the store; try again later")
        return bytes(response["Body"].read())

    def publish(self, key: str, folder: Path, manifest: Manifest) -> tuple[Manifest, bool]:
        """Upload the pyramid in `folder` (every file its manifest names), then its manifest, unless one is there.
        Returns the manifest now published and whether this call published it."""
        from botocore.exceptions import ClientError

        names = [f["name"] for f in manifest["files"]]
        if manifest.get("checksums"):
            names.append(manifest["checksums"]["name"])
        for name in names:
            self._upload(folder / name, key, name)
        body = json.dumps(manifest).encode()
        try:
            self._call("publish a pyramid", self.client.put_object, Key=self._name(key, MANIFEST), Body=body,
                       IfNoneMatch="*", ContentType="application/json")
        except ClientError:
            # Another builder published first: its pyramid is the one every node uses.
            return self.manifest(key) or manifest, False
        return manifest, True

    def _upload(self, path: Path, key: str, name: str) -> None:
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.upload_file(str(path), self.bucket, self._name(key, name),
                                    Config=TransferConfig(multipart_threshold=64 * 2**20, use_threads=False))
        except (BotoCoreError, ClientError, OSError):
            raise StoreUnavailable("the pyramid store cannot be reached to store a pyramid; try again later") from None

    def health(self) -> dict[str, Any]:
        """Whether the bucket answers, for /status."""
        try:
            self._call("answer", self.client.head_bucket)
        except StoreUnavailable as e:
            return {"ok": False, "url": self.url, "error": e.message}
        return {"ok": True, "url": self.url}
