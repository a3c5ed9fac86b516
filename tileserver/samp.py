"""What SAMP messages need of the server, without HTTP: which image of the data folder a received `file:` URL names,
and an extra-folder CSV catalog as a VOTable for `table.load.votable`.

A SAMP client (DS9, TOPCAT, Aladin) names an image by URL, usually `file:///abs/path.fits`. The viewer may open it
only if it lies inside the data folder; everything else gets one answer, whatever the reason (outside, missing,
forbidden, not a file URL), so that nobody learns where the data folder is or what lies around it.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .errors import ImageNotFound, InvalidParameter, UnsupportedImage

MAX_URL_LENGTH = 4096
NOT_HERE = "this server opens only images of its data folder, named by a file: URL inside it"


def relative_path(url: str, data_dir: Path) -> str:
    """The data-folder path (FIF) that a file: URL names, before any confinement check (datapath does that)."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidParameter("the URL is too long", "url")
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [ in the host
        raise ImageNotFound(NOT_HERE, "url") from None
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost", "127.0.0.1"):
        raise ImageNotFound(NOT_HERE, "url")
    try:
        path = unquote(parts.path, errors="strict")
    except UnicodeDecodeError:
        raise ImageNotFound(NOT_HERE, "url") from None
    # The data folder as configured and as resolved: a URL may come from either side of a symlink above it.
    for root in dict.fromkeys((os.path.abspath(data_dir), os.path.realpath(data_dir))):
        if path.startswith(root.rstrip("/") + "/"):
            return path[len(root.rstrip("/")) + 1:]
    raise ImageNotFound(NOT_HERE, "url")


def csv_to_votable(data: bytes, name: str) -> bytes:
    """A CSV catalog (header line, then rows) as a VOTable, read and written by astropy."""
    from astropy.io import ascii as astropy_ascii
    from astropy.io.votable import from_table, writeto

    from .datapath import sealed

    try:
        # Lines, never one string: astropy reads a one-line string as a file name or URL to open. Sealed:
        # the content opens nothing, whatever the reader does with it.
        with sealed():
            table = astropy_ascii.read(data.decode("utf-8", "replace").splitlines(), format="csv")
    except Exception as e:  # astropy's readers raise many kinds of error on a malformed file
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise UnsupportedImage(f"{name} is not a CSV table: {first[:200]}", "path") from None
    table.meta.clear()
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # column names that are no XML ID: astropy makes one, and says so
        writeto(from_table(table, table_id=Path(name).stem[:64] or "catalog"), out)
    return out.getvalue()
