"""A corpus of malformed and extreme files, served by a real two-worker server: every broken file gets a 4xx with a
message (and leaves nothing in the cache), every extreme but valid one is served, and no worker dies."""

from __future__ import annotations

import gzip
import io
import json
import struct
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from support.images import sky
from support.servers import wait_for

BOUND = 60  # seconds any one answer may take before the test calls it hung


def card(key: str, value: str = "") -> bytes:
    text = f"{key:<8}= {value:>20}" if value else key
    return text.ljust(80).encode("ascii")


def header(*cards: bytes, end: bool = True) -> bytes:
    data = b"".join(cards) + (card("END") if end else b"")
    return data + b" " * (-len(data) % 2880)


def image_header(width: int, height: int, bitpix: int = -32, naxis: int = 2, *extra: bytes, end: bool = True) -> bytes:
    return header(card("SIMPLE", "T"), card("BITPIX", str(bitpix)), card("NAXIS", str(naxis)),
                  card("NAXIS1", str(width)), card("NAXIS2", str(height)), *extra, end=end)


def good_fits(width: int = 64, height: int = 48, seed: int = 1) -> bytes:
    buffer = io.BytesIO()
    fits.PrimaryHDU(sky(width, height, seed)).writeto(buffer)
    return buffer.getvalue()


def compressed_with_garbage_heap() -> bytes:
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(sky(128, 128), compression_type="RICE_1")]).writeto(buffer)
    raw = bytearray(buffer.getvalue())
    rng = np.random.default_rng(5)
    start = len(raw) - len(raw) // 3  # the tail of the file is the compressed heap
    raw[start:] = rng.integers(0, 256, len(raw) - start, dtype=np.uint8).tobytes()
    return bytes(raw)


def tiff_bomb() -> bytes:
    """9500 x 9500 = 90 Mpixels in a 3 kB file."""
    buffer = io.BytesIO()
    Image.new("1", (9500, 9500), 0).save(buffer, format="TIFF", compression="group4")
    return buffer.getvalue()


def tiff_with_lying_strips() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((np.arange(64 * 64, dtype=np.uint16) % 251).reshape(64, 64)).save(buffer, format="TIFF")
    raw = bytearray(buffer.getvalue())
    # Point every strip offset far past the end of the file.
    ifd = struct.unpack("<I", raw[4:8])[0]
    for k in range(struct.unpack("<H", raw[ifd:ifd + 2])[0]):
        entry = ifd + 2 + 12 * k
        if struct.unpack("<H", raw[entry:entry + 2])[0] == 273:  # StripOffsets
            raw[entry + 8:entry + 12] = struct.pack("<I", 10**9)
    return bytes(raw)


def float_fits(data: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    fits.PrimaryHDU(data).writeto(buffer)
    return buffer.getvalue()


GOOD = good_fits()
DATA_END = 2880 + 64 * 48 * 4  # one header block, then the float32 pixels, then padding to a whole block

MALFORMED: dict[str, Callable[[], bytes]] = {
    "empty.fits": lambda: b"",
    "text.fits": lambda: b"this is not an image\n" * 100,
    "random.fits": lambda: np.random.default_rng(1).integers(0, 256, 10000, dtype=np.uint8).tobytes(),
    **{f"truncated_{n}.fits": (lambda n=n: GOOD[:n]) for n in
       (1, 9, 79, 80, 81, 2879, 2880, 2881, 4000, 8000, DATA_END - 256, DATA_END - 1)},
    "no_end.fits": lambda: image_header(16, 16, end=False) + b"\0" * 2880,
    "no_end_short.fits": lambda: card("SIMPLE", "T") + card("BITPIX", "-32"),
    "zero_axis.fits": lambda: image_header(0, 16),
    "zero_axes.fits": lambda: image_header(0, 0),
    "naxis_1.fits": lambda: header(card("SIMPLE", "T"), card("BITPIX", "-32"), card("NAXIS", "1"),
                                   card("NAXIS1", "100")) + b"\0" * 2880,
    "naxis_0.fits": lambda: header(card("SIMPLE", "T"), card("BITPIX", "8"), card("NAXIS", "0")),
    "naxis_negative.fits": lambda: image_header(-5, 16) + b"\0" * 2880,
    "naxis_1000.fits": lambda: header(card("SIMPLE", "T"), card("BITPIX", "8"), card("NAXIS", "1000")),
    "naxis_text.fits": lambda: image_header(16, 16, -32, 2, card("NAXIS3", "'many'")),
    "bitpix_99.fits": lambda: image_header(16, 16, 99) + b"\0" * 2880,
    "bitpix_text.fits": lambda: header(card("SIMPLE", "T"), card("BITPIX", "'float'"), card("NAXIS", "2"),
                                       card("NAXIS1", "16"), card("NAXIS2", "16")) + b"\0" * 2880,
    "lying_size.fits": lambda: image_header(4000, 4000) + b"\0" * 2880,  # says 64 MB, holds 2880 bytes
    "huge_declared.fits": lambda: image_header(10**6, 10**6) + b"\0" * 2880,
    "bscale_text.fits": lambda: image_header(16, 16, 16, 2, card("BSCALE", "'big'")) + b"\0" * 2880,
    "garbage_heap.fits": compressed_with_garbage_heap,
    "gzip_truncated.fits.gz": lambda: gzip.compress(GOOD)[:700],
    "gzip_garbage.fits.gz": lambda: b"\x1f\x8b\x08\x00" + b"\xff" * 3000,
    "huge_header.fits": lambda: header(card("SIMPLE", "T"), card("BITPIX", "-32"), card("NAXIS", "2"),
                                       card("NAXIS1", "8"), card("NAXIS2", "8"),
                                       *(card(f"K{i:07d}", str(i)) for i in range(60000)), end=False),
    "huge_header_end.fits": lambda: header(card("SIMPLE", "T"), card("BITPIX", "-32"), card("NAXIS", "2"),
                                           card("NAXIS1", "8"), card("NAXIS2", "8"),
                                           *(card(f"K{i:07d}", str(i)) for i in range(60000))) + b"\0" * 2880,
    "tiff_bomb.tif": tiff_bomb,
    "tiff_lying_strips.tif": tiff_with_lying_strips,
    "png_bad_crc.png": lambda: (lambda b: b[:40] + bytes([b[40] ^ 0xFF]) + b[41:])(
        _png(np.zeros((32, 32), np.uint8))),
    "png_truncated.png": lambda: _png(np.random.default_rng(2).integers(0, 256, (64, 64), dtype=np.uint8))[:300],
    "jpeg_garbage.jpg": lambda: b"\xff\xd8\xff\xe0" + b"\x00" * 50 + b"\xff\xda" + b"\x13" * 500,
}


def _png(data: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(data).save(buffer, format="PNG")
    return buffer.getvalue()


EXTREME: dict[str, Callable[[], bytes]] = {
    "all_nan.fits": lambda: float_fits(np.full((40, 40), np.nan, np.float32)),
    "all_inf.fits": lambda: float_fits(np.full((40, 40), np.inf, np.float32)),
    "constant.fits": lambda: float_fits(np.full((40, 40), 7.0, np.float32)),
    "no_padding.fits": lambda: GOOD[:DATA_END],  # every pixel there, only the block padding cut
    "float32_extremes.fits": lambda: float_fits(np.resize(np.array(
        [np.nan, np.inf, -np.inf, 3.4e38, -3.4e38, 1e-45, 0.0, 100.0], np.float32), (40, 40))),
    "float64_overflow.fits": lambda: float_fits(np.resize(np.array([1e308, -1e308, 1.0, np.nan]), (40, 40))),
    "int64_extremes.fits": lambda: float_fits(np.resize(np.array(
        [np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0, 1], np.int64), (40, 40))),
}


@pytest.fixture
def corpus(data_dir: Path) -> None:
    (data_dir / "good.fits").write_bytes(GOOD)
    for name, make in {**MALFORMED, **EXTREME}.items():
        (data_dir / name).write_bytes(make())


def workers(pid: int) -> set[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(c) for c in children}


def test_malformed_files_get_a_4xx_and_no_worker_dies(live_server, corpus, data_dir, cache_dir, tmp_path):
    server = live_server("--workers", "2", "--tile-size", "64", "--max-image-pixels", str(16 * 2**20),
                         "--max-fits-header-bytes", str(2**20))
    before = workers(server.proc.pid)
    assert len(before) == 2
    with httpx.Client(base_url=server.url, timeout=BOUND) as client:
        assert client.get("/api", params={"FIF": "good.fits", "JTL": "0,0"}).status_code == 200
        failures = []
        for name in MALFORMED:
            for query in ({"INFO": ""}, {"JTL": "0,0"}, {"VAL": "1,1"}):
                r = client.get("/api", params={"FIF": name, **query})
                body = r.json() if r.headers.get("content-type") == "application/json" else {}
                msg = body.get("detail", [{}])[0].get("msg", "")
                if not (400 <= r.status_code < 500 and r.status_code != 404 and msg) or str(tmp_path) in r.text:
                    failures.append((name, query, r.status_code, r.text[:200]))
        assert not failures, failures
        for name in EXTREME:
            info = client.get("/api", params={"FIF": name, "INFO": ""})
            assert info.status_code == 200, (name, info.text[:300])
            json.loads(info.text, parse_constant=lambda c: pytest.fail(f"{name}: {c} in the INFO JSON"))
            for query in ({"JTL": "0,0"}, {"JTL": "0,0", "STR": "histeq"}, {"JTL": "0,0", "CNT": "st"},
                          {"VAL": "1,1"}, {"PFL": "1,1:40,40"}, {"RGN": "1,1:40,40", "CVT": "fits"}):
                r = client.get("/api", params={"FIF": name, **query})
                assert r.status_code == 200, (name, query, r.text[:300])
        assert client.get("/api", params={"FIF": "good.fits", "JTL": "0,0", "Q": "again"}).status_code == 200
        assert client.get("/healthz").json() == {"status": "ok"}
        # The extreme images are shown before they are built: their builds may still run (in tmp/) a moment.
        wait_for(lambda: all(client.get("/api", params={"FIF": name, "INFO": ""}).json()["final"]
                             for name in EXTREME), "the extreme images' builds to end")
    assert workers(server.proc.pid) == before  # the same two workers: none died and was replaced
    assert list((cache_dir / "tmp").iterdir()) == []  # failed builds leave no half-written folder
    cached = {json.loads((e / "manifest.json").read_text())["image"]["name"] for e in (cache_dir / "entries").iterdir()}
    assert cached == {"good.fits", *EXTREME}
    assert "Traceback" not in server.log.read_text()
