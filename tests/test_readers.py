"""The image readers, through the API a user sees: values (VAL, FITS cutouts) equal astropy's and Pillow's to float32
precision for every kind of file we read, mosaics are assembled in the right place and orientation with a WCS valid
for the whole mosaic, and every bad file gets a clear 4xx, leaves nothing in the cache and does not hurt the worker."""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image, ImageOps

from tileserver.images import fits as fits_reader
from tileserver.images import open_image

TILE = 64  # several levels from small images


@pytest.fixture
def api(client_for):
    return client_for(tile_size=TILE)


def get(client: Any, fif: str, **params: str) -> Any:
    return client.get("/api", params={"FIF": fif, **params})


def info(client: Any, fif: str) -> dict:
    r = get(client, fif, INFO="")
    assert r.status_code == 200, r.text
    return r.json()


def val(client: Any, fif: str, x: int, y: int) -> list:
    r = get(client, fif, VAL=f"{x},{y}")
    assert r.status_code == 200, r.text
    return r.json()["values"]


def cutout(client: Any, fif: str, width: int, height: int) -> np.ndarray:
    """The whole image at full resolution, FITS order (row 0 at the bottom), as a float32 FITS cutout gives it."""
    r = get(client, fif, RGN=f"1,1:{width},{height}", CVT="fits")
    assert r.status_code == 200, r.text
    return fits.getdata(io.BytesIO(r.content))


def as_json(values: np.ndarray) -> list:
    """What VAL should answer: float32 values, null where not finite."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, np.float32).ravel()]


def spots(width: int, height: int, extra: list[tuple[int, int]] = (), seed: int = 0) -> list[tuple[int, int]]:
    """1-based FITS pixels: the four corners, a few random ones and any extra."""
    rng = np.random.default_rng(seed)
    random = [(int(x), int(y)) for x, y in zip(rng.integers(1, width + 1, 6), rng.integers(1, height + 1, 6))]
    return [(1, 1), (width, 1), (1, height), (width, height), *random, *extra]


def raw_fits(path: Path, raw: np.ndarray, bitpix: int, cards: dict[str, Any] | None = None) -> Path:
    """A FITS file of stored values `raw` as they are, with any scaling cards (astropy would rescale on write)."""
    header = fits.Header([("SIMPLE", True), ("BITPIX", bitpix), ("NAXIS", raw.ndim)]
                         + [(f"NAXIS{i + 1}", n) for i, n in enumerate(reversed(raw.shape))])
    header.update(cards or {})
    data = raw.astype(raw.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(header.tostring().encode() + data + bytes(-len(data) % 2880))
    return path


def assert_cache_empty(cache_dir: Path) -> None:
    for folder in ("entries", "tmp"):
        assert list((cache_dir / folder).iterdir()) == [], folder


# -- FITS: types, scaling, blanks ---------------------------------------------------------------------------------

W, H = 37, 23
RNG = np.random.default_rng(42)
SCALINGS = {
    "uint8": (RNG.integers(0, 256, (H, W)).astype(np.uint8), 8, {}),
    "int16": (RNG.integers(-32768, 32768, (H, W)).astype(np.int16), 16, {}),
    "int32": (RNG.integers(-2**31, 2**31, (H, W)).astype(np.int32), 32, {}),
    "int64": (RNG.integers(-2**40, 2**40, (H, W)).astype(np.int64), 64, {}),
    "float32": (RNG.normal(0, 1e3, (H, W)).astype(np.float32), -32, {}),
    "float64": (RNG.normal(0, 1e-3, (H, W)), -64, {}),
    "uint16 via BZERO": (RNG.integers(-32768, 32768, (H, W)).astype(np.int16), 16, {"BZERO": 32768}),
    "uint32 via BZERO": (RNG.integers(-2**31, 2**31, (H, W)).astype(np.int32), 32, {"BZERO": 2**31}),
    "scaled int16": (RNG.integers(-32768, 32768, (H, W)).astype(np.int16), 16, {"BSCALE": 0.25, "BZERO": -100.0}),
    "scaled uint8": (RNG.integers(0, 256, (H, W)).astype(np.uint8), 8, {"BSCALE": 2.5, "BZERO": 1.0}),
    "int16 BLANK": (RNG.integers(-32768, 32768, (H, W)).astype(np.int16), 16, {"BLANK": -32768}),
    "scaled int32 BLANK": (RNG.integers(-2**31, 2**31, (H, W)).astype(np.int32), 32,
                           {"BSCALE": 1e-3, "BZERO": 5.0, "BLANK": -7}),
    "scaled float32": (RNG.normal(0, 1, (H, W)).astype(np.float32), -32, {"BSCALE": 3.0, "BZERO": -1.0}),
}


@pytest.mark.parametrize("case", SCALINGS)
def test_every_bitpix_scaling_and_blank(api, data_dir, case):
    raw, bitpix, cards = SCALINGS[case]
    raw = raw.copy()
    blank = cards.get("BLANK")
    if blank is not None:
        raw[3, 4] = raw[H - 1, W - 1] = blank
    path = raw_fits(data_dir / "a.fits", raw, bitpix, cards)
    expected = fits.getdata(path).astype(np.float64)  # astropy applies BSCALE and BZERO
    if blank is not None:
        expected[raw == blank] = np.nan
    got = cutout(api, "a.fits", W, H)
    np.testing.assert_allclose(got, expected.astype(np.float32), rtol=1e-7, atol=0)
    for x, y in spots(W, H, [(5, 4)]):
        assert val(api, "a.fits", x, y) == pytest.approx(as_json(expected[y - 1, x - 1]), rel=1e-7)
    assert info(api, "a.fits")["bits_per_channel"] == abs(bitpix)


def test_nan_and_infinities(api, make_fits):
    data = np.random.default_rng(1).normal(100, 5, (80, 90)).astype(np.float32)
    data[10, 20], data[30, 40], data[50, 60] = np.nan, np.inf, -np.inf
    data[60:, :30] = np.nan
    make_fits("nan.fits", data=data)
    assert val(api, "nan.fits", 21, 11) == [None]
    assert val(api, "nan.fits", 41, 31) == [None]  # VAL answers null for any non-finite value
    assert val(api, "nan.fits", 61, 51) == [None]
    assert val(api, "nan.fits", 2, 2) == as_json(data[1, 1])
    stats = info(api, "nan.fits")["stats"][0]
    finite = data[np.isfinite(data)]
    assert (stats["min"], stats["max"]) == (float(finite.min()), float(finite.max()))
    assert get(api, "nan.fits", JTL="1,0").status_code == 200


# -- FITS: cubes --------------------------------------------------------------------------------------------------


def test_cube_planes_are_channels(api, make_fits):
    data = np.random.default_rng(2).normal(0, 1, (3, 40, 50)).astype(np.float32) + np.array([[[0]], [[10]], [[20]]])
    make_fits("cube.fits", data=data, header={"CTYPE3": "WAVE", "CRVAL3": 5000.0, "CDELT3": 10.0, "CRPIX3": 1.0,
                                              "CUNIT3": "Angstrom"})
    description = info(api, "cube.fits")
    assert description["channels"] == 3 and description["full_size"] == [50, 40]
    assert description["channel_names"] == ["WAVE 5000 Angstrom", "WAVE 5010 Angstrom", "WAVE 5020 Angstrom"]
    for x, y in spots(50, 40):
        assert val(api, "cube.fits", x, y) == as_json(data[:, y - 1, x - 1])
    assert [round(s["background_level"]) for s in description["stats"]] == [0, 10, 20]


def test_degenerate_axes_vanish_and_extra_axes_flatten(api, make_fits):
    four = np.random.default_rng(3).normal(0, 1, (1, 2, 30, 20)).astype(np.float32)  # NAXIS3=2, NAXIS4=1
    make_fits("four.fits", data=four, wcs=False)
    assert info(api, "four.fits")["channels"] == 2
    assert val(api, "four.fits", 7, 9) == as_json(four[0, :, 8, 6])
    five = np.random.default_rng(4).normal(0, 1, (1, 3, 2, 30, 20)).astype(np.float32)  # NAXIS3=2, NAXIS4=3
    make_fits("five.fits", data=five, wcs=False)
    description = info(api, "five.fits")
    assert description["channels"] == 6
    # Channel c is (NAXIS3 index c % 2, NAXIS4 index c // 2): the order of the planes in the file.
    assert val(api, "five.fits", 7, 9) == as_json([five[0, c // 2, c % 2, 8, 6] for c in range(6)])
    assert description["channel_names"][:3] == ["axis 3 #1, axis 4 #1", "axis 3 #2, axis 4 #1",
                                                "axis 3 #1, axis 4 #2"]


# -- FITS: mosaics ------------------------------------------------------------------------------------------------

CHIP_W, CHIP_H, OVERSCAN = 64, 50, 6
# (DATASEC, DETSEC): overscan left or right, a 5-column and a 3-row gap, chips flipped in x, y or both.
CHIPS = [
    ("[7:70,1:50]", "[133:70,1:50]"),  # the first chip is flipped in x: its WCS must be mirrored for the mosaic
    ("[1:64,1:50]", "[1:64,1:50]"),
    ("[1:64,1:50]", "[1:64,103:54]"),
    ("[7:70,1:50]", "[133:70,103:54]"),
]
MOSAIC_W, MOSAIC_H = 133, 103
MOSAIC_WCS = {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 150.0, "CRVAL2": 2.0, "CRPIX1": 60.5,
              "CRPIX2": 40.25, "CD1_1": -1e-4, "CD1_2": 2e-6, "CD2_1": 3e-6, "CD2_2": 1e-4, "RADESYS": "ICRS"}


def section(text: str) -> tuple[int, int, int, int]:
    x1, x2, y1, y2 = (int(v) for v in text.strip("[]").replace(",", ":").split(":"))
    return x1, x2, y1, y2


def chip_wcs(datasec: str, detsec: str) -> dict[str, Any]:
    """The mosaic WCS seen from one chip: chip pixel x maps to mosaic X = d1 + s (x - a1)."""
    a1, _, b1, _ = section(datasec)
    d1, d2, e1, e2 = section(detsec)
    sx, sy = (1 if d2 >= d1 else -1), (1 if e2 >= e1 else -1)
    out = dict(MOSAIC_WCS)
    out["CRPIX1"] = a1 + sx * (MOSAIC_WCS["CRPIX1"] - d1)
    out["CRPIX2"] = b1 + sy * (MOSAIC_WCS["CRPIX2"] - e1)
    for i in (1, 2):
        out[f"CD{i}_1"] = MOSAIC_WCS[f"CD{i}_1"] * sx
        out[f"CD{i}_2"] = MOSAIC_WCS[f"CD{i}_2"] * sy
    return out


def write_mosaic(path: Path, chips: list[tuple[str, str]] = CHIPS, names: list[str] | None = None) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    hdus = [fits.PrimaryHDU(header=fits.Header({"OBJECT": "NGC 1", "TELESCOP": "TEST"}))]
    datas = []
    for n, (datasec, detsec) in enumerate(chips):
        data = (rng.normal(1000 * (n + 1), 10, (CHIP_H, CHIP_W + OVERSCAN))).astype(np.float32)
        hdu = fits.ImageHDU(data, name=(names[n] if names else f"CCD{n + 1}"))
        hdu.header.update({"DATASEC": datasec, "DETSEC": detsec, **chip_wcs(datasec, detsec)})
        hdus.append(hdu)
        datas.append(data)
    fits.HDUList(hdus).writeto(path)
    return datas


def assemble(datas: list[np.ndarray], chips: list[tuple[str, str]] = CHIPS) -> np.ndarray:
    """The mosaic, FITS order, put together the obvious way: numpy slices, gaps NaN."""
    mosaic = np.full((MOSAIC_H, MOSAIC_W), np.nan, np.float32)
    for data, (datasec, detsec) in zip(datas, chips):
        a1, a2, b1, b2 = section(datasec)
        d1, d2, e1, e2 = section(detsec)
        part = data[b1 - 1:b2, a1 - 1:a2]
        part = part[:, ::-1] if d2 < d1 else part
        part = part[::-1] if e2 < e1 else part
        mosaic[min(e1, e2) - 1:max(e1, e2), min(d1, d2) - 1:max(d1, d2)] = part
    return mosaic


def test_mosaic_geometry_and_orientation(api, data_dir):
    datas = write_mosaic(data_dir / "mosaic.fits")
    expected = assemble(datas)
    description = info(api, "mosaic.fits")
    assert description["full_size"] == [MOSAIC_W, MOSAIC_H]
    np.testing.assert_array_equal(cutout(api, "mosaic.fits", MOSAIC_W, MOSAIC_H), expected)
    for x, y in spots(MOSAIC_W, MOSAIC_H, [(66, 10), (10, 52), (133, 54), (70, 103)]):
        assert val(api, "mosaic.fits", x, y) == as_json(expected[y - 1, x - 1])
    chips = description["images"]
    assert [c["size"] for c in chips] == [[70, 50]] * 4
    assert [c["dataslice"] for c in chips] == [[[7, 70, 1], [1, 50, 1]], [[1, 64, 1], [1, 50, 1]],
                                               [[1, 64, 1], [1, 50, 1]], [[7, 70, 1], [1, 50, 1]]]
    assert [c["detslice"] for c in chips] == [[[133, 70, -1], [1, 50, 1]], [[1, 64, 1], [1, 50, 1]],
                                              [[1, 64, 1], [103, 54, -1]], [[133, 70, -1], [103, 54, -1]]]
    assert [c["header"]["EXTNAME"] for c in chips] == ["CCD1", "CCD2", "CCD3", "CCD4"]
    header = description["header"]
    assert header["OBJECT"] == "NGC 1" and header["NAXIS1"] == MOSAIC_W and "DETSEC" not in header
    assert [e["name"] for e in description["extensions"]] == ["PRIMARY", "CCD1", "CCD2", "CCD3", "CCD4"]


def test_mosaic_wcs_is_valid_everywhere(api, data_dir):
    write_mosaic(data_dir / "mosaic.fits")
    header = info(api, "mosaic.fits")["header"]
    mosaic = WCS(fits.Header({k: v for k, v in header.items() if k[:2] in ("CT", "CR", "CD", "RA")}))
    truth = WCS(fits.Header(MOSAIC_WCS))
    pixels = np.array([[1, 1], [133, 103], [66.5, 52], [20.25, 90.5], [120, 3]])
    np.testing.assert_allclose(mosaic.all_pix2world(pixels, 1), truth.all_pix2world(pixels, 1), rtol=0, atol=1e-10)


CHIP_WCS_FORMS = {
    "CD": {"CD1_1": -1e-4, "CD1_2": 2e-6, "CD2_1": 3e-6, "CD2_2": 1e-4},
    "PC and CDELT": {"CDELT1": -1e-4, "CDELT2": 1.2e-4, "PC1_1": 0.99, "PC1_2": 0.1, "PC2_1": -0.1, "PC2_2": 0.99},
    "CROTA2 and CDELT": {"CDELT1": -1e-4, "CDELT2": 1e-4, "CROTA2": 30.0},
    "SIP": {"CD1_1": -1e-4, "CD1_2": 2e-6, "CD2_1": 3e-6, "CD2_2": 1e-4, "CTYPE1": "RA---TAN-SIP",
            "CTYPE2": "DEC--TAN-SIP", "A_ORDER": 2, "B_ORDER": 2, "A_2_0": 1e-4, "A_1_1": -2e-5, "A_0_2": 3e-5,
            "B_2_0": 2e-5, "B_1_1": 1e-4, "B_0_2": -4e-5},
}


@pytest.mark.parametrize("form", CHIP_WCS_FORMS)
def test_the_mosaic_wcs_follows_a_flipped_first_chip(api, data_dir, form):
    wcs = {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 150.0, "CRVAL2": 2.0, "CRPIX1": 20.5,
           "CRPIX2": 30.25, "RADESYS": "ICRS", **CHIP_WCS_FORMS[form]}
    hdu = fits.ImageHDU(np.zeros((50, 64), np.float32), name="CCD1")
    hdu.header.update({"DATASEC": "[1:64,1:50]", "DETSEC": "[64:1,100:51]", **wcs})  # flipped in x and y
    other = fits.ImageHDU(np.zeros((50, 64), np.float32), name="CCD2")
    other.header.update({"DATASEC": "[1:64,1:50]", "DETSEC": "[1:64,1:50]"})
    fits.HDUList([fits.PrimaryHDU(), hdu, other]).writeto(data_dir / "flip.fits")
    header = info(api, "flip.fits")["header"]
    assert not any(key.startswith(("PC", "CDELT", "CROTA")) and key[-1] in "12" for key in header)
    chip = WCS(hdu.header)
    mosaic = WCS(fits.Header({k: v for k, v in header.items() if k[:2] in ("CT", "CR", "CD", "RA", "A_", "B_")}))
    chip_pixels = np.array([[1.0, 1.0], [64, 50], [10.5, 40.25], [33, 7]])
    mosaic_pixels = np.stack([65 - chip_pixels[:, 0], 101 - chip_pixels[:, 1]], axis=1)
    np.testing.assert_allclose(mosaic.all_pix2world(mosaic_pixels, 1), chip.all_pix2world(chip_pixels, 1),
                               rtol=0, atol=1e-10)


def test_mosaic_takes_one_extension_per_chip(api, data_dir):
    chips = CHIPS[:2]
    write_mosaic(data_dir / "mef.fits", chips + chips, names=["SCI", "SCI", "VAR", "VAR"])
    description = info(api, "mef.fits")
    assert len(description["images"]) == 2 and description["full_size"] == [133, 50]
    assert val(api, "mef.fits", 1, 1)[0] == pytest.approx(2000, abs=100)  # a SCI pixel, not a VAR one


def test_a_mosaic_of_inconsistent_sections_shows_its_first_image(api, data_dir):
    write_mosaic(data_dir / "odd.fits", [("[1:64,1:50]", "[1:128,1:100]"), ("[1:64,1:50]", "[129:256,1:100]")])
    description = info(api, "odd.fits")  # binned sections: not assembled
    assert description["full_size"] == [70, 50] and len(description["images"]) == 1


# -- FITS: compressed, gzip'd, extensions -------------------------------------------------------------------------


def compressed_cases() -> dict[str, tuple[np.ndarray, dict[str, Any], dict[str, Any]]]:
    rng = np.random.default_rng(6)
    ints = rng.integers(0, 5000, (45, 70)).astype(np.int32)
    floats = rng.normal(100, 5, (45, 70)).astype(np.float32)
    floats[3, 4] = np.nan
    return {
        "RICE_1": (ints, {"compression_type": "RICE_1"}, {}),
        "GZIP_1": (ints, {"compression_type": "GZIP_1"}, {}),
        "GZIP_2": (ints, {"compression_type": "GZIP_2"}, {}),
        "PLIO_1": (ints, {"compression_type": "PLIO_1"}, {}),
        "HCOMPRESS_1": (ints, {"compression_type": "HCOMPRESS_1"}, {}),
        "RICE_1 uint16 BLANK": (rng.integers(0, 65535, (45, 70)).astype(np.uint16),
                                {"compression_type": "RICE_1"}, {}),
        "RICE_1 quantized float": (floats, {"compression_type": "RICE_1", "quantize_level": 16}, {}),
        "GZIP_2 lossless float": (floats, {"compression_type": "GZIP_2", "quantize_level": 0}, {}),
        "GZIP_1 cube": (rng.normal(0, 1, (3, 45, 70)).astype(np.float32),
                        {"compression_type": "GZIP_1", "quantize_level": 0}, {"CTYPE3": "FREQ"}),
    }


@pytest.mark.parametrize("case", compressed_cases())
def test_tile_compressed_images(api, data_dir, case):
    data, options, cards = compressed_cases()[case]
    hdu = fits.CompImageHDU(data, **options)
    hdu.header.update(cards)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(data_dir / "c.fits")
    expected = fits.getdata(data_dir / "c.fits", ext=1).astype(np.float64)  # astropy's own decompression
    description = info(api, "c.fits")
    assert description["full_size"] == [70, 45] and description["channels"] == (3 if data.ndim == 3 else 1)
    for x, y in spots(70, 45, [(5, 4)]):
        assert val(api, "c.fits", x, y) == as_json(expected[..., y - 1, x - 1])


def test_compressed_in_tall_tiles(api, data_dir, monkeypatch):
    monkeypatch.setattr(fits_reader, "TALL_TILE", 10)  # tiles taller than this: decompressed whole, once
    data = np.random.default_rng(15).integers(-5000, 5000, (45, 70)).astype(np.int16)
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, tile_shape=(15, 70), compression_type="GZIP_1")]
                 ).writeto(data_dir / "tall.fits")
    sections = []
    monkeypatch.setattr(fits_reader, "_section_rows", lambda *args: sections.append(args))
    np.testing.assert_array_equal(cutout(api, "tall.fits", 70, 45), data.astype(np.float32))
    assert sections == []


def test_compressed_integers_with_blank(api, data_dir):
    data = np.random.default_rng(7).integers(-1000, 1000, (30, 40)).astype(np.int16)
    data[5, 6] = -999
    hdu = fits.CompImageHDU(data, compression_type="RICE_1")
    hdu.header["BLANK"] = -999
    hdu.header["BSCALE"], hdu.header["BZERO"] = 1.0, 0.0
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(data_dir / "blank.fits")
    assert val(api, "blank.fits", 7, 6) == [None]
    assert val(api, "blank.fits", 8, 6) == as_json(data[5, 7])


def gzipped(path: Path, hdul: fits.HDUList) -> Path:
    buffer = io.BytesIO()
    hdul.writeto(buffer)
    path.write_bytes(gzip.compress(buffer.getvalue()))
    return path


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_gzipped_files(api, data_dir, dtype):
    data = np.random.default_rng(8).integers(0, 60000, (90, 70)).astype(dtype)
    gzipped(data_dir / "g.fits.gz", fits.HDUList([fits.PrimaryHDU(data)]))
    expected = fits.getdata(data_dir / "g.fits.gz").astype(np.float64)
    np.testing.assert_array_equal(cutout(api, "g.fits.gz", 70, 90), expected.astype(np.float32))
    assert val(api, "g.fits.gz", 70, 90) == as_json(expected[89, 69])


@pytest.fixture
def extensions(data_dir: Path) -> dict[str, np.ndarray]:
    """A primary header (OBJECT), two SCI images and a table."""
    rng = np.random.default_rng(9)
    one, two = rng.normal(0, 1, (30, 40)).astype(np.float32), rng.normal(5, 1, (20, 50)).astype(np.float32)
    fits.HDUList([
        fits.PrimaryHDU(header=fits.Header({"OBJECT": "M51"})),
        fits.ImageHDU(one, name="SCI", ver=1),
        fits.ImageHDU(two, name="SCI", ver=2),
        fits.BinTableHDU.from_columns([fits.Column("A", "E", array=np.arange(3.0))], name="CAT"),
    ]).writeto(data_dir / "ext.fits")
    return {"1": one, "2": two}


@pytest.mark.parametrize(("fif", "which"), [
    ("ext.fits", "1"), ("ext.fits[1]", "1"), ("ext.fits[2]", "2"), ("ext.fits[SCI]", "1"), ("ext.fits[sci,2]", "2"),
])
def test_extension_selector(api, extensions, fif, which):
    data = extensions[which]
    description = info(api, fif)
    assert description["full_size"] == [data.shape[1], data.shape[0]]
    assert description["object_name"] == "M51"  # inherited from the primary header
    assert [(e["name"], e["image"]) for e in description["extensions"]] == [
        ("PRIMARY", False), ("SCI", True), ("SCI", True), ("CAT", False)]
    assert val(api, fif, 3, 4) == as_json(data[3, 2])


@pytest.mark.parametrize(("fif", "status"), [("ext.fits[3]", 415), ("ext.fits[0]", 415), ("ext.fits[7]", 422),
                                             ("ext.fits[FOO]", 422), ("ext.fits[SCI,3]", 422)])
def test_bad_extension_selector(api, extensions, cache_dir, fif, status):
    r = get(api, fif, INFO="")
    assert r.status_code == status, r.text
    assert "/" not in r.json()["detail"][0]["msg"]
    assert_cache_empty(cache_dir)


# -- FITS: sizes and bad files ------------------------------------------------------------------------------------


def huge_header(bitpix: int = -32) -> bytes:
    header = fits.Header([("SIMPLE", True), ("BITPIX", bitpix), ("NAXIS", 2), ("NAXIS1", 10**6), ("NAXIS2", 10**6)])
    return header.tostring().encode() + bytes(2880)


def huge_compressed(data_dir: Path) -> bytes:
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(np.zeros((40, 30), np.int16))]).writeto(data_dir / "c.fits")
    raw = (data_dir / "c.fits").read_bytes()
    for key, n in ((b"ZNAXIS1 ", 30), (b"ZNAXIS2 ", 40)):
        card = key + b"= " + str(n).rjust(20).encode()
        assert card in raw
        raw = raw.replace(card, key + b"= " + str(10**6).rjust(20).encode())
    return raw


@pytest.mark.parametrize("kind", ["plain", "gzip", "compressed"])
def test_a_header_claiming_a_huge_image_is_refused_before_allocation(api, data_dir, cache_dir, kind):
    raw = huge_compressed(data_dir) if kind == "compressed" else huge_header()
    (data_dir / "huge.fits").write_bytes(gzip.compress(raw) if kind == "gzip" else raw)
    r = get(api, "huge.fits", INFO="")
    assert r.status_code == 413, r.text
    assert "1000000 x 1000000" in r.json()["detail"][0]["msg"]
    assert_cache_empty(cache_dir)


def png_bytes(data: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(data).save(buffer, format="PNG")
    return buffer.getvalue()


def tiff_bytes(data: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(data).save(buffer, format="TIFF")
    return buffer.getvalue()


def fits_bytes(hdul: fits.HDUList) -> bytes:
    buffer = io.BytesIO()
    hdul.writeto(buffer)
    return buffer.getvalue()


def bad_files() -> dict[str, tuple[str, bytes, int]]:
    rng = np.random.default_rng(10)
    good = fits_bytes(fits.HDUList([fits.PrimaryHDU(rng.normal(0, 1, (100, 100)).astype(np.float32))]))
    good_gz = gzip.compress(good)
    compressed = fits_bytes(fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(
        rng.integers(0, 1000, (100, 100)).astype(np.int32))]))
    jpeg = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (200, 200, 3)).astype(np.uint8)).save(jpeg, format="JPEG")
    table = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("A", "E", array=[1.0])])])
    return {
        "garbage": ("g.fits", rng.integers(0, 256, 5000).astype(np.uint8).tobytes(), 415),
        "garbage after SIMPLE": ("s.fits", b"SIMPLE  =                    T" + bytes(rng.integers(0, 256, 3000)), 415),
        "empty": ("e.fits", b"", 415),
        "text named .fits": ("notes.fits", b"These are my notes, not an image.\n" * 100, 415),
        "truncated FITS": ("t.fits", good[:2880 + 20000], 415),
        "truncated gzip'd FITS": ("t.fits.gz", good_gz[:len(good_gz) // 2], 415),
        "gzip'd garbage": ("gg.fits.gz", gzip.compress(bytes(rng.integers(0, 256, 3000))), 415),
        "truncated compressed FITS": ("tc.fits", compressed[:-3000], 415),
        "table only": ("table.fits", fits_bytes(table), 415),
        "header only": ("h.fits", fits_bytes(fits.HDUList([fits.PrimaryHDU()])), 415),
        "zero-sized axis": ("z.fits", fits.Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 2), ("NAXIS1", 0),
                                                    ("NAXIS2", 10)]).tostring().encode(), 415),
        "bad BITPIX": ("b.fits", good.replace(b"BITPIX  =                  -32", b"BITPIX  =                   12"),
                       415),
        "truncated PNG": ("t.png", png_bytes(rng.integers(0, 255, (300, 300)).astype(np.uint8))[:2000], 415),
        "truncated JPEG": ("t.jpg", jpeg.getvalue()[:1500], 415),
        "TIFF magic then garbage": ("t.tif", b"II*\x00" + bytes(rng.integers(0, 256, 3000)), 415),
        "truncated TIFF": ("tt.tif", tiff_bytes(rng.integers(0, 65535, (100, 100)).astype(np.uint16))[:5000], 415),
    }


@pytest.mark.parametrize("case", bad_files())
def test_bad_files_get_a_clear_error_and_leave_nothing(api, make_fits, data_dir, cache_dir, case):
    name, content, status = bad_files()[case]
    (data_dir / name).write_bytes(content)
    for params in ({"INFO": ""}, {"JTL": "0,0"}, {"VAL": "1,1"}):
        r = get(api, name, **params)
        assert r.status_code == status, (params, r.text)
        detail = r.json()["detail"][0]
        assert detail["loc"] == ["query", "FIF"] and detail["msg"] and str(data_dir) not in detail["msg"]
    assert_cache_empty(cache_dir)
    make_fits("fine.fits", width=100, height=80)  # the worker is alive and well
    assert get(api, "fine.fits", JTL="0,0").status_code == 200


def test_the_content_decides_not_the_name(api, data_dir):
    data = np.random.default_rng(11).integers(0, 255, (30, 40)).astype(np.uint8)
    (data_dir / "really-a-png.fits").write_bytes(png_bytes(data))
    assert info(api, "really-a-png.fits")["kind"] == "raster"
    assert val(api, "really-a-png.fits", 1, 30) == [float(data[0, 0])]


# -- rasters ------------------------------------------------------------------------------------------------------


def raster_cases() -> dict[str, tuple[str, np.ndarray, dict[str, Any]]]:
    rng = np.random.default_rng(12)
    grey8 = rng.integers(0, 256, (50, 70)).astype(np.uint8)
    grey16 = rng.integers(0, 65536, (50, 70)).astype(np.uint16)
    rgb = rng.integers(0, 256, (50, 70, 3)).astype(np.uint8)
    rgba = rng.integers(0, 256, (50, 70, 4)).astype(np.uint8)
    rgba[:, :20, 3] = 0  # a transparent band: blank pixels
    return {
        "TIFF 8-bit grey": ("a.tif", grey8, {}),
        "TIFF 16-bit grey": ("a.tif", grey16, {}),
        "TIFF 16-bit grey in strips of 7 rows": ("a.tif", grey16, {"tiffinfo": {278: 7}}),
        "TIFF 16-bit big-endian": ("a.tif", grey16.astype(">u2"), {}),
        "TIFF 32-bit integer": ("a.tif", rng.integers(-10**6, 10**6, (50, 70)).astype(np.int32), {}),
        "TIFF 32-bit float": ("a.tif", rng.normal(0, 100, (50, 70)).astype(np.float32), {}),
        "TIFF RGB": ("a.tif", rgb, {}),
        "TIFF RGB LZW": ("a.tif", rgb, {"compression": "tiff_lzw"}),
        "PNG 8-bit grey": ("a.png", grey8, {}),
        "PNG 16-bit grey": ("a.png", grey16, {}),
        "PNG RGB": ("a.png", rgb, {}),
        "PNG RGBA": ("a.png", rgba, {}),
        "JPEG grey": ("a.jpg", grey8, {"quality": 90}),
        "JPEG RGB": ("a.jpg", rgb, {"quality": 90}),
    }


def pillow_values(path: Path, x: int, y: int) -> list:
    """What Pillow decodes at FITS-style pixel (x, y): 1-based, y from the bottom."""
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        bands = image.getbands()
        value = image.getpixel((x - 1, image.height - y))
    values = [float(v) for v in (value if isinstance(value, tuple) else (value,))]
    if bands[-1] == "A":  # alpha is transparency: the colours, blank (null) where fully transparent
        return [None if values[-1] == 0 else v for v in values[:-1]]
    return values


@pytest.mark.parametrize("case", raster_cases())
def test_raster_values_equal_pillows(api, data_dir, case):
    name, data, options = raster_cases()[case]
    Image.fromarray(data).save(data_dir / name, **options)
    description = info(api, name)
    assert description["kind"] == "raster" and description["full_size"] == [70, 50]
    assert description["channels"] == (min(data.shape[2], 3) if data.ndim == 3 else 1)  # alpha is no channel
    for x, y in spots(70, 50):
        assert val(api, name, x, y) == pytest.approx(pillow_values(data_dir / name, x, y), rel=1e-7)
    assert description["gamma"] == 1.0


@pytest.mark.parametrize(("case", "cuts"), [("TIFF 8-bit grey", [0, 255]), ("TIFF 16-bit grey", "zscale"),
                                            ("PNG RGBA", [0, 255]), ("TIFF 32-bit float", "zscale")])
def test_a_raster_is_shown_as_itself(api, data_dir, case, cuts):
    name, data, options = raster_cases()[case]
    Image.fromarray(data).save(data_dir / name, **options)
    description = info(api, name)
    # Deeper grey rasters (detector frames) open at zscale, as FITS data do; 8-bit ones as themselves.
    expected = description["cuts"][0]["zscale"] if cuts == "zscale" else cuts
    assert [c["default"] for c in description["cuts"]] == [expected] * description["channels"]
    assert description["gamma"] == 1.0
    if data.ndim == 3:  # true colours: R, G, B straight through, alpha as transparency (blank), not a channel
        assert description["default_mix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
        assert description["channel_names"] == ["red", "green", "blue"]


def test_uncompressed_tiff_is_read_from_the_file_not_decoded(api, data_dir, monkeypatch):
    data = np.random.default_rng(14).integers(0, 65535, (90, 70)).astype(np.uint16)
    Image.fromarray(data).save(data_dir / "big.tif", tiffinfo={278: 16})
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("Pillow decoded the whole image"))
    assert val(api, "big.tif", 70, 1) == [float(data[89, 69])]
    np.testing.assert_array_equal(cutout(api, "big.tif", 70, 90), data[::-1].astype(np.float32))


def test_jpeg_exif_orientation_is_honoured(api, data_dir):
    data = np.zeros((40, 60, 3), np.uint8)
    data[:10, :20] = 255  # a white block at the top left of the stored image
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: show it rotated 90 degrees clockwise
    Image.fromarray(data).save(data_dir / "turned.jpg", exif=exif, quality=95)
    description = info(api, "turned.jpg")
    assert description["full_size"] == [40, 60]
    for x, y in spots(40, 60, [(35, 55), (5, 5)]):
        assert val(api, "turned.jpg", x, y) == pillow_values(data_dir / "turned.jpg", x, y)
    assert val(api, "turned.jpg", 35, 55)[0] > 200  # the block is now at the top right


def test_multi_page_tiff_pages_are_channels(api, data_dir):
    pages = [np.random.default_rng(13 + i).integers(0, 65535, (30, 40)).astype(np.uint16) for i in range(3)]
    images = [Image.fromarray(p) for p in pages]
    thumbnail = Image.fromarray(pages[0][::2, ::2].copy())  # a page of another size is not a channel
    images[0].save(data_dir / "pages.tif", save_all=True, append_images=[*images[1:], thumbnail])
    description = info(api, "pages.tif")
    assert description["channels"] == 3 and description["channel_names"] == ["page 0", "page 1", "page 2"]
    assert val(api, "pages.tif", 4, 30) == [float(p[0, 3]) for p in pages]
    assert val(api, "pages.tif[1]", 4, 30) == [float(pages[1][0, 3])]
    assert get(api, "pages.tif[9]", INFO="").status_code == 422


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height 8-bit grey pixels, with one tiny compressed row after it."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(1 + width)))
            + chunk(b"IEND", b""))


def test_a_decompression_bomb_is_refused_before_decoding(api, data_dir, cache_dir):
    (data_dir / "bomb.png").write_bytes(png_claiming(100_000, 100_000))
    r = get(api, "bomb.png", INFO="")
    assert r.status_code == 413, r.text
    assert_cache_empty(cache_dir)


def test_pillows_pixel_limit_follows_ours(client_for, data_dir):
    (data_dir / "a.png").write_bytes(png_bytes(np.zeros((100, 200), np.uint8)))
    small = client_for(tile_size=TILE, max_image_pixels=19_999)
    assert get(small, "a.png", INFO="").status_code == 413
    large = client_for(tile_size=TILE, max_image_pixels=20_000, cache_dir=str(data_dir.parent / "other-cache"))
    assert get(large, "a.png", INFO="").status_code == 200
    # A 16384 x 16384 image is within the default limit, whereas Pillow's own would call it a bomb.
    (data_dir / "big.png").write_bytes(png_claiming(16384, 16384))
    source = open_image(data_dir / "big.png")
    assert (source.width, source.height) == (16384, 16384)
    source.close()


def test_pillow_limit_is_put_back(client_for, data_dir):
    from PIL import Image

    before = Image.MAX_IMAGE_PIXELS
    Image.fromarray(np.zeros((40, 50), np.uint8)).save(data_dir / "small.png")
    client = client_for(max_image_pixels=1000)
    assert client.get("/api", params={"FIF": "small.png", "INFO": ""}).status_code == 413
    assert client.get("/api", params={"FIF": "small.png", "INFO": ""}).status_code == 413
    assert Image.MAX_IMAGE_PIXELS == before  # the server's limit does not leak into the process
