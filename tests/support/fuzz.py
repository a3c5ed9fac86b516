"""The mutational fuzzer of files shared by tests/test_fuzz_inputs.py and benchmarks/fuzz.py: one small valid
file per format, and mutations of it."""

from __future__ import annotations

import io
import random

import numpy as np
from astropy.io import fits
from PIL import Image

from support.images import sky


def seed_files() -> dict[str, bytes]:
    """One small valid file per format, the seeds of the mutations."""
    out: dict[str, bytes] = {}
    buf = io.BytesIO()
    hdu = fits.PrimaryHDU(sky(40, 30))
    hdu.header.update({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": 20.0, "CRPIX2": 15.0,
                       "CRVAL1": 150.0, "CRVAL2": 2.0, "CDELT1": -1e-4, "CDELT2": 1e-4, "OBJECT": "seed"})
    fits.HDUList([hdu, fits.ImageHDU(sky(20, 10, seed=2), name="SCI")]).writeto(buf)
    out["fits"] = buf.getvalue()
    for fmt, ext in (("TIFF", "tif"), ("PNG", "png")):
        buf = io.BytesIO()
        Image.fromarray((np.arange(40 * 30 * 3) % 251).astype(np.uint8).reshape(30, 40, 3)).save(buf, fmt)
        out[ext] = buf.getvalue()
    out["vot"] = (b'<?xml version="1.0"?><VOTABLE version="1.4"><RESOURCE><TABLE name="t">'
                  b'<FIELD name="ra" datatype="double" unit="deg"/><FIELD name="name" datatype="char" arraysize="*"/>'
                  b"<DATA><TABLEDATA><TR><TD>150.1</TD><TD>a</TD></TR><TR><TD>150.2</TD><TD>b</TD></TR>"
                  b"</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>")
    out["reg"] = (b"# Region file format: DS9 version 4.1\nglobal color=green\nfk5\ncircle(150.0,2.0,10\") "
                  b"# text={A}\nimage\nbox(10,10,4,2,30)\npolygon(1,1,5,1,3,4)\n")
    return out


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One mutation: a truncation, bit flips, a byte run overwritten, a header number edited, or a splice."""
    kind = rng.choice(["truncate", "flip", "overwrite", "number", "splice", "zero"])
    buf = bytearray(data)
    if kind == "truncate":
        return bytes(buf[: rng.randrange(len(buf))])
    if kind == "flip":
        for _ in range(rng.randint(1, 16)):
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
    elif kind == "overwrite":
        i = rng.randrange(len(buf))
        buf[i:i + rng.randint(1, 8)] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    elif kind == "number":
        # Header edits: a number in the first 3 KB (FITS cards, XML attributes, region coordinates) made extreme.
        head = bytes(buf[:2880])
        digits = [i for i, c in enumerate(head) if 48 <= c <= 57]
        if digits:
            i = rng.choice(digits)
            edit = rng.choice([b"0", b"-1", b"99999999", b"2147483648", b"1e308", b"nan", b"9" * 20])
            buf[i:i + 1] = edit
    elif kind == "splice":
        i, j = sorted(rng.randrange(len(buf)) for _ in range(2))
        buf[i:i] = buf[j:j + rng.randint(1, 200)]
    else:
        i = rng.randrange(len(buf))
        buf[i:i + rng.randint(1, 400)] = bytes(min(400, len(buf) - i))
    return bytes(buf)
