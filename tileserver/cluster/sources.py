"""Source images in an S3-compatible object store: a data_dir of s3://bucket/prefix.

The same door as a local folder (datapath.py), with the bucket prefix as the folder:
- a path refused by its spelling (absolute, `..`, control characters...) gets the same 403 as on disk, before the
  store is asked anything; every other path names the key `<prefix>/<path>`, which cannot leave the prefix;
- a missing key, a hidden name (a component starting with a dot) and a key the store refuses to show all get the
  same 404, "no such image" (or "no such folder"), and no path;
- listings are the prefix's `/`-delimited listing, as a folder's.

Identity: bucket, key, ETag, size and last-modified (whole seconds, as HEAD gives it) of the object, so a rewritten
object is a new version with a new key; nothing of the machine enters it, so every node and worker agrees. HEAD
answers are remembered HEAD_TTL seconds (a tile request would otherwise cost a round trip before any work).

Reading: a source is fetched whole, with a GET conditional on the ETag the identity names (If-Match), streamed into
an unlinked file of the cache disk: the readers then see a local file, pinned and sealed as on disk, and the memory
map of plain FITS keeps working. Only a fetch for a build is ever made: since the full resolution cannot be mapped
from the store, the pyramid of an S3 source stores its full level too (build first), and once it is built the source
is not read again. Plain FITS may be as large as max_source_bytes; other formats (TIFF, PNG, JPEG, compressed FITS)
are decoded in memory, so their objects must also fit in max_request_bytes; max_image_pixels applies after.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import datapath
from ..config import Settings
from ..errors import CacheFull, FolderNotFound, Forbidden, ImageNotFound, StoreUnavailable, TooLarge
from ..images.listing import FITS_SUFFIXES, MAX_ENTRIES, is_image_name
from ..store import pyramid
from ..store.diskcache import MANIFEST, DiskCache
from ..store.objectstore import ObjectStore

if TYPE_CHECKING:
    from ..access import Grant

HEAD_TTL = 2.0  # seconds a HEAD answer stands for the object's version
CHUNK = 8 << 20  # bytes read from a GET's body at a time
_GONE = ("NoSuchKey", "404", "NotFound", "403", "AccessDenied", "PreconditionFailed", "412", "NoSuchBucket")


def is_remote(data_dir: str) -> bool:
    return data_dir.startswith("s3://")


class RemoteSources:
    def __init__(self, settings: Settings) -> None:
        self.store = ObjectStore(settings.data_dir)  # its client, timeouts and error mapping
        self.client, self.bucket, self.prefix = self.store.client, self.store.bucket, self.store.prefix
        self.root = Path(settings.data_dir)  # s3:/bucket/prefix: paths below it name keys
        self.spool = Path(settings.cache_dir) / "sources"
        self.max_bytes = settings.max_source_bytes
        self.max_decoded = settings.max_request_bytes
        self._heads: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()

    def _key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _call(self, what: str, method: Any, **kwargs: Any) -> Any:
        """One S3 call: None when the object is not there (or not shown), StoreUnavailable when the store fails."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(Bucket=self.bucket, **kwargs)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code", "") in _GONE:
                return None
            raise StoreUnavailable(f"the image store refused to {what}; try again later") from None
        except BotoCoreError:
            raise StoreUnavailable(f"the image store cannot be reached to {what}; try again later") from None

    def head(self, relative: str) -> dict[str, Any] | None:
        """{etag, size, modified} of the object, or None; remembered HEAD_TTL seconds."""
        now = time.monotonic()
        with self._lock:
            known = self._heads.get(relative)
        if known is not None and now - known[0] < HEAD_TTL:
            return known[1]
        answer = self._call("describe an image", self.client.head_object, Key=self._key(relative))
        found = None if answer is None else {"etag": answer["ETag"], "size": answer["ContentLength"],
                                             "modified": int(answer["LastModified"].timestamp())}
        with self._lock:
            if len(self._heads) > 10_000:
                self._heads.clear()
            self._heads[relative] = (now, found)
        return found

    # -- the door ------------------------------------------------------------------------------------------------

    def resolve(self, relative: str, param: str = "FIF", want_dir: bool = False,
                grant: Grant | None = None) -> Path:
        parts = datapath.check_spelling(relative.strip(" ") if not want_dir else relative.strip(" ").lstrip("/"),
                                        param)
        missing = (FolderNotFound if want_dir else ImageNotFound)(datapath.NOT_FOUND[want_dir], param)
        if any(p.startswith(".") for p in parts):
            raise missing
        rel = "/".join(parts)
        if grant is not None and not (grant.may_enter(rel) if want_dir else grant.may_read(rel)):
            raise Forbidden("you are not allowed to see this " + ("folder" if want_dir else "image"), param)
        if want_dir:
            if rel and not self._call("list a folder", self.client.list_objects_v2, Prefix=self._key(rel) + "/",
                                      MaxKeys=1).get("KeyCount"):
                raise missing
        elif not rel or self.head(rel) is None:
            raise missing
        return self.root / rel if rel else self.root

    def identity(self, path: Path, selector: str | None, tile_size: int) -> str:
        relative = self.relative(path)
        head = self.head(relative)
        if head is None:
            raise FileNotFoundError(relative)  # gone since it was resolved: the caller resolves again
        return _identity(self.bucket, self._key(relative), head, selector, tile_size)

    @contextmanager
    def pinned(self, path: Path, param: str = "FIF") -> Iterator[Path]:
        """The object's bytes in an unlinked local file (/proc/self/fd/N), of the version its identity names."""
        relative = self.relative(path)
        head = self.head(relative)
        if head is None:
            raise ImageNotFound(datapath.NOT_FOUND[False], param)
        limit = self.max_bytes if relative.lower().endswith(FITS_SUFFIXES[:3]) else min(self.max_bytes,
                                                                                          self.max_decoded)
        if head["size"] > limit:
            raise TooLarge(f"the image is larger than {limit // 2**20} MB, the most the server fetches from the image "
                           "store" + ("" if limit == self.max_bytes else " for a format decoded in memory"), param)
        self.spool.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.spool, prefix="fetch-")
        os.unlink(name)  # nothing to clean up after a crash: the file lives as long as its descriptor
        try:
            self._fetch(relative, head, fd, limit, param)
            yield Path(f"{datapath.PROC_FD}/{fd}")
        finally:
            os.close(fd)

    def _fetch(self, relative: str, head: dict[str, Any], fd: int, limit: int, param: str) -> None:
        from botocore.exceptions import BotoCoreError

        response = self._call("read an image", self.client.get_object, Key=self._key(relative), IfMatch=head["etag"])
        if response is None:  # rewritten or deleted since HEAD: the next request sees the new version
            with self._lock:
                self._heads.pop(relative, None)
            raise ImageNotFound(datapath.NOT_FOUND[False], param)
        body, total = response["Body"], 0
        try:
            while chunk := body.read(CHUNK):
                total += len(chunk)
                if total > limit:
                    raise TooLarge(f"the image is larger than {limit // 2**20} MB", param)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
        except BotoCoreError:
            raise StoreUnavailable("the image store stopped answering; try again later") from None
        except OSError:  # the cache disk is full: the fetched file was unlinked, its room is free again
            raise CacheFull("the cache disk has no room to fetch this image from the image store") from None
        finally:
            body.close()
        if total != head["size"]:
            raise StoreUnavailable("the image store sent a truncated image; try again later")
        os.lseek(fd, 0, os.SEEK_SET)

    # -- listings ------------------------------------------------------------------------------------------------

    def list_folder(self, relative: str, cache: DiskCache, tile_size: int,
                    grant: Grant | None = None) -> dict[str, Any]:
        """The prefix's listing in the shape of listing.list_folder (FITS files are not opened to list their HDUs)."""
        folder = self.relative(self.resolve(relative, "path", want_dir=True, grant=grant))
        folder = "" if folder == "." else folder
        base = "".join(f"{part}/" for part in (self.prefix, folder) if part)
        folders: list[dict[str, Any]] = []
        images: list[dict[str, Any]] = []
        truncated, token = False, None
        while True:
            extra: dict[str, Any] = {"ContinuationToken": token} if token else {}
            page = self._call("list a folder", self.client.list_objects_v2, Prefix=base, Delimiter="/", **extra) or {}
            for common in page.get("CommonPrefixes", []):
                name = common["Prefix"][len(base):].rstrip("/")
                self._add(folders, grant, name, folder, {"type": "folder"})
            for obj in page.get("Contents", []):
                name = obj["Key"][len(base):]
                if "/" in name or not is_image_name(name):
                    continue
                head = {"etag": obj["ETag"], "size": obj["Size"], "modified": int(obj["LastModified"].timestamp())}
                key = _identity(self.bucket, obj["Key"], head, None, tile_size)
                self._add(images, grant, name, folder, {
                    "type": "image", "size": obj["Size"], "mtime": obj["LastModified"].timestamp(),
                    "cached": (cache.entries / key / MANIFEST).is_file()})
            token = page.get("NextContinuationToken")
            if len(folders) + len(images) > MAX_ENTRIES:
                truncated = True
                break
            if not token:
                break
        entries = sorted(folders, key=lambda e: e["name"].lower()) + sorted(images, key=lambda e: e["name"].lower())
        parent = None if not folder else folder.rpartition("/")[0]
        return {"path": folder, "parent": parent, "entries": entries[:MAX_ENTRIES], "truncated": truncated}

    def find(self, names: list[str]) -> tuple[list[str], list[str]]:
        """For `cache warm`: the images named (objects, or prefixes searched through) as sorted paths relative to the
        data prefix, by their names as /list goes; and the names that hold none, with the reason."""
        from botocore.exceptions import BotoCoreError, ClientError

        found: set[str] = set()
        problems: list[str] = []
        for name in names:
            rel = _servable(name.strip(" /"))
            if rel is None:
                problems.append(f"{name}: outside the data prefix")
                continue
            if rel and is_image_name(rel) and self.head(rel) is not None:
                found.add(rel)
                continue
            base, before = "".join(f"{part}/" for part in (self.prefix, rel) if part), len(found)
            try:
                for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base):
                    for obj in page.get("Contents", []):
                        below = _servable(obj["Key"][len(self.prefix) + 1 if self.prefix else 0:])
                        if below and is_image_name(below):
                            found.add(below)
            except (BotoCoreError, ClientError):
                raise StoreUnavailable("the image store cannot be reached to list images; try again later") from None
            if len(found) == before:
                problems.append(f"{name}: no image there")
        return sorted(found), problems

    @staticmethod
    def _add(out: list[dict[str, Any]], grant: Grant | None, name: str, folder: str, item: dict[str, Any]) -> None:
        if not name or name.startswith(".") or "\\" in name:
            return
        path = f"{folder}/{name}" if folder else name
        if grant is not None and not (grant.may_enter if item["type"] == "folder" else grant.may_read)(path):
            return
        out.append({"name": name, "path": path, **item})


def _servable(relative: str) -> str | None:
    """The path as the door spells it, or None for one it refuses or hides."""
    try:
        parts = datapath.check_spelling(relative, "path")
    except Forbidden:
        return None
    return None if any(p.startswith(".") for p in parts) else "/".join(parts)


def _identity(bucket: str, key: str, head: dict[str, Any], selector: str | None, tile_size: int) -> str:
    ident = (f"s3\0{bucket}\0{key}\0{selector or ''}\0{head['etag']}\0{head['size']}\0{head['modified']}"
             f"\0{tile_size}\0{pyramid.FORMAT_VERSION}")
    return hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()[:24]
