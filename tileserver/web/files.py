"""Static folders (the client, Leaflet, Aladin Lite, the manual) served through the door (datapath).

starlette's StaticFiles confines paths by their spelling and opens the file again by path when it sends it; here a
file is resolved, and read, by the door like every other file a request reaches: hidden names are never served
(a .htpasswd or .git left in a manual folder), a link leading out is "not found", and the bytes sent are those of
the file approved, even if its name is swapped meanwhile. These files are small (scripts, pages, pictures): each is
read whole, up to MAX_BYTES.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

from .. import datapath
from ..errors import TileServerError

MAX_BYTES = 64 * 2**20


class DoorFiles(StaticFiles):
    def __init__(self, directory: Path | str, html: bool = False) -> None:
        super().__init__(directory=directory, html=html)
        self.root = Path(directory)

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if path in ("404.html", "") and not self.html:
            return "", None
        for want_dir in (False, True):
            try:
                real = datapath.resolve(self.root, path, "path", want_dir=want_dir)
            except TileServerError:
                continue
            return str(real), os.stat(real)
        return "", None

    def file_response(self, full_path: os.PathLike[str] | str, stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        # FileResponse only for its headers (type, length, ETag, Last-Modified): it never opens the file here.
        headers = FileResponse(full_path, status_code=status_code, stat_result=stat_result).headers
        if self.is_not_modified(headers, Headers(scope=scope)):
            return NotModifiedResponse(headers)
        try:
            body = datapath.read_resolved(self.root, Path(full_path), MAX_BYTES)
        except TileServerError:
            return Response("Not Found", status_code=404, media_type="text/plain")
        kept = {k: v for k, v in headers.items() if k != "content-length"}
        return Response(body if scope["method"] != "HEAD" else b"", status_code=status_code, headers=kept)
