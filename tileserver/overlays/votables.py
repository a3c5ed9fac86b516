"""VOTables -> the viewer's table form, read by astropy (every serialisation: TABLEDATA, BINARY, BINARY2, FITS).

{"name", "columns": [{"name", "unit", "ucd"}], "rows": [[value, ...]], "truncated"}: the first table of the file,
scalar columns only (arrays in a cell have no place on a marker's popup), masked and NaN values as null.
"""

from __future__ import annotations

import io
import math
import warnings
import xml.parsers.expat
from typing import Any, NoReturn

import numpy as np

from .. import datapath
from ..errors import InvalidParameter, TooLarge

MAX_BYTES = 64 * 2**20
MAX_ROWS = 1_000_000
MAX_CELL_ITEMS = 65_536  # values in one cell (FIELD arraysize): astropy allocates that much per row up front
REFERENCE = "a VOTable may not refer to an external file or URL; inline the data"


def to_table(data: bytes, name: str = "") -> dict[str, Any]:
    if len(data) > MAX_BYTES:
        raise TooLarge(f"the VOTable is larger than {MAX_BYTES // 2**20} MB", "votable")
    _refuse_references(data)
    from astropy.io.votable import parse

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy warns of every departure from the standard: tolerated here
        try:
            with datapath.sealed():  # a second line behind _refuse_references: whatever astropy would open, it cannot
                table = parse(io.BytesIO(data), verify="ignore").get_first_table()
            columns = [c for c in table.to_table(use_names_over_ids=True).itercols() if c.ndim == 1]
        except PermissionError:
            raise InvalidParameter(REFERENCE, "votable") from None
        except Exception as e:
            raise InvalidParameter(f"not a VOTable: {_short(e)}", "votable") from None
    total = len(table.array)
    rows = min(total, MAX_ROWS)
    values = [_values(c[:rows]) for c in columns]
    return {
        "name": table.name or table.ID or name,
        "columns": [{"name": c.name, "unit": str(c.unit) if c.unit is not None else "", "ucd": c.meta.get("ucd", "")}
                    for c in columns],
        "rows": [list(row) for row in zip(*values)],
        "truncated": total > rows,
    }


class _Reference(Exception):
    """Raised inside the expat scan: the document points outside itself."""


class _TooLarge(Exception):
    """Raised inside the expat scan: the document asks astropy for more memory than it holds."""


def _cell_items(arraysize: str) -> int:
    """Values per cell that an arraysize such as "3x2x*" makes astropy allocate ("*" and "10*" count as given)."""
    total = 1
    for part in arraysize.split("x"):
        digits = part.strip().rstrip("*")
        if digits.isdigit():
            total *= int(digits)
    return total


def _refuse_references(data: bytes) -> None:
    """Refuse a VOTable that points outside itself, before astropy sees it.

    astropy's parser opens a <STREAM href="..."> (file:, http:, any URL) to read BINARY, BINARY2 and FITS data, which
    would let a client read the server's files or make it fetch URLs. A document type declaration can declare
    external entities, and a VOTable needs none: both are refused. Nothing of the reference is echoed back."""
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse_doctype(*_: Any) -> NoReturn:
        raise _Reference("a VOTable may not carry a document type declaration")

    def start(name: str, attributes: dict[str, str]) -> None:
        local = name.rpartition(" ")[2]
        attrs = {key.rpartition(" ")[2]: value for key, value in attributes.items()}
        if local == "STREAM" and "href" in attrs:
            raise _Reference("a VOTable STREAM may not refer to an external file or URL (href); inline the data")
        if local == "STREAM" and attrs.get("encoding", "").strip().lower() not in ("", "base64", "none"):
            # gzip (or "dynamic") would let a small document inflate into gigabytes inside astropy.
            raise _TooLarge("a VOTable STREAM must be inline base64 (no gzip encoding)")
        if local in ("FIELD", "PARAM") and _cell_items(attrs.get("arraysize", "")) > MAX_CELL_ITEMS:
            raise _TooLarge(f"a VOTable cell may hold at most {MAX_CELL_ITEMS} values")
        if local == "TABLE" and attrs.get("nrows", "").strip().isdigit() and int(attrs["nrows"]) > MAX_ROWS:
            raise _TooLarge(f"a VOTable may have at most {MAX_ROWS} rows")  # astropy allocates nrows rows first

    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_doctype
    parser.ExternalEntityRefHandler = refuse_doctype
    parser.StartElementHandler = start
    try:
        parser.Parse(data, True)
    except _Reference as e:
        raise InvalidParameter(str(e), "votable") from None
    except _TooLarge as e:
        raise TooLarge(str(e), "votable") from None
    except xml.parsers.expat.ExpatError as e:
        raise InvalidParameter(f"not a VOTable: {xml.parsers.expat.ErrorString(e.code)}", "votable") from None


def _values(column: Any) -> list[Any]:
    mask = np.ma.getmaskarray(column)
    values = np.ma.getdata(column)
    if values.dtype.kind == "S":
        values = np.char.decode(values, "utf-8", "replace")
    out = values.tolist()
    for i in np.flatnonzero(mask).tolist():
        out[i] = None
    if values.dtype.kind == "f":
        out = [None if v is None or math.isnan(v) or math.isinf(v) else v for v in out]
    elif values.dtype.kind == "O":
        out = [None if v is None else str(v) for v in out]
    return out


def _short(error: Exception) -> str:
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__
