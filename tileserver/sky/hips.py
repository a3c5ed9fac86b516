"""The HiPS of one image: its celestial WCS, orders, footprint (MOC), properties, and tiles resampled from the
pyramid. Pure library: the caller reads pyramid tiles, renders and encodes (see service.py)."""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
from astropy import units as u
from astropy.coordinates import ICRS, SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_area, wcs_to_celestial_frame
from mocpy import MOC

from ..errors import ImageNotFound
from . import healpix

TILE_SHIFT = 9  # 512 x 512 tiles: the HiPS standard's advice, and the size Aladin Lite expects by default
BORDER_POINTS = 64  # points per image edge for the footprint polygon: follows distortions to a small fraction
MOC_EXTRA_ORDERS = 4  # the MOC goes this much deeper than the tiles: the footprint to 1/16 of a tile
WIDE = 80.0  # degrees from the centre past which an image is not a polygon on the sky: its MOC is the whole sky
NOT_CELESTIAL = "this image has no celestial WCS (sky coordinates), so it has no HiPS"

ReadTile = Callable[[int, int], np.ndarray]  # (level z, tile i) -> (nchannels, h, w) float32


class NotCelestial(ImageNotFound):
    """The image has no usable celestial WCS: there is no HiPS of it (404, like a missing image)."""


@dataclass
class SkyImage:
    """What the HiPS of an image needs, worked out once per image."""

    wcs: WCS
    width: int
    height: int
    pixel_scale: float  # degrees per full-resolution pixel
    order: int  # deepest tile order
    moc: MOC
    ranges: np.ndarray  # the MOC as sorted order-29 ranges, for a fast footprint test per tile
    center: tuple[float, float]  # ICRS degrees
    fov: float  # degrees across the image
    distorted: bool = False  # pixel positions go through a distortion polynomial or table
    shift: int = TILE_SHIFT

    @property
    def tile_width(self) -> int:
        return 1 << self.shift

    def covers(self, order: int, npix: int) -> bool:
        return 0 <= npix < healpix.tiles_at(order) and healpix.overlaps(self.ranges, order, npix)


def celestial_wcs(header: dict[str, Any]) -> WCS:
    """The image's 2-D celestial WCS (SIP and TPV distortions included), or NotCelestial."""
    cards = fits.Header()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # long keywords become HIERARCH; non-standard cards are only noise here
        for key, value in header.items():
            try:
                cards[key] = value
            except (ValueError, TypeError, KeyError):
                continue
        try:
            wcs = WCS(cards, naxis=2, relax=True, fix=True)
        except Exception:  # astropy raises many kinds for a broken WCS; all mean the same to us
            raise NotCelestial(NOT_CELESTIAL) from None
    if not wcs.has_celestial or wcs.wcs.lng < 0 or wcs.wcs.lat < 0:
        raise NotCelestial(NOT_CELESTIAL)
    try:
        wcs_to_celestial_frame(wcs)
    except ValueError:
        raise NotCelestial("this image's sky coordinates are in a frame HiPS cannot show") from None
    return wcs


def sky_image(header: dict[str, Any], width: int, height: int, shift: int = TILE_SHIFT) -> SkyImage:
    wcs = celestial_wcs(header)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scale = math.sqrt(abs(proj_plane_pixel_area(wcs)))  # degrees: CUNIT is deg for celestial axes
    if not math.isfinite(scale) or scale <= 0:
        raise NotCelestial(NOT_CELESTIAL)
    center = _to_icrs(wcs, np.array([(width - 1) / 2]), np.array([(height - 1) / 2]))
    if not np.isfinite(center.ra.deg[0]):
        raise NotCelestial(NOT_CELESTIAL)
    border = _to_icrs(wcs, *_border(width, height))
    border = border[np.isfinite(border.ra.deg)]
    reach = float(np.max(center.separation(border).deg)) if len(border) else 180.0
    order = healpix.deepest_order(scale, shift)
    moc = _footprint(border, reach, min(healpix.MAX_ORDER, order + MOC_EXTRA_ORDERS))
    return SkyImage(wcs=wcs, width=width, height=height, pixel_scale=scale, order=order, moc=moc,
                    ranges=moc.to_depth29_ranges.astype(np.uint64), center=(float(center.ra.deg[0]),
                    float(center.dec.deg[0])), fov=min(180.0, 2.4 * reach),
                    distorted=_distorted(wcs, header), shift=shift)


def _border(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """0-based pixel positions along the image's outer edge, counter-clockwise on the pixel grid."""
    t = np.linspace(0.0, 1.0, BORDER_POINTS, endpoint=False)
    x0, y0, x1, y1 = -0.5, -0.5, width - 0.5, height - 0.5
    xs = np.concatenate([x0 + (x1 - x0) * t, np.full_like(t, x1), x1 - (x1 - x0) * t, np.full_like(t, x0)])
    ys = np.concatenate([np.full_like(t, y0), y0 + (y1 - y0) * t, np.full_like(t, y1), y1 - (y1 - y0) * t])
    return xs, ys


def _to_icrs(wcs: WCS, x: np.ndarray, y: np.ndarray) -> SkyCoord:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lon, lat = wcs.all_pix2world(x, y, 0)
        coords = SkyCoord(lon * u.deg, lat * u.deg, frame=wcs_to_celestial_frame(wcs))
        return coords if isinstance(coords.frame, ICRS) else coords.transform_to(ICRS())


def _footprint(border: SkyCoord, reach: float, depth: int) -> MOC:
    """The sky the image covers: its outline as a polygon, or the whole sky for an image too wide to be one."""
    if reach < WIDE and len(border) >= 3:
        try:
            moc = MOC.from_polygon_skycoord(border, max_depth=depth)
            if moc.sky_fraction > 0:
                return moc
        except Exception:  # a self-crossing outline (a strongly distorted edge): fall back to the whole sky
            pass
    return MOC.from_depth29_ranges(0, np.array([[0, healpix.tiles_at(0) << 2 * healpix.MAX_ORDER]], np.uint64))


def sample(sky: SkyImage, geometry: Any, read_tile: ReadTile, order: int, npix: int,
           shift: int | None = None) -> np.ndarray:
    """Tile (order, npix) as (nchannels, w, w) float32 in the FITS layout (row 0 first in the file), NaN where the
    image does not reach. Each tile pixel takes the nearest pixel of the pyramid level whose pixels are just finer
    than the tile's: the image is resampled once, at about the right scale, with its full WCS."""
    shift = sky.shift if shift is None else shift
    width = 1 << shift
    out = np.full((geometry.nchannels, width, width), np.nan, np.float32)
    lon, lat = healpix.tile_lonlat(order, npix, shift)
    x, y = _to_pixels(sky.wcs, lon.ravel(), lat.ravel(), healpix.cell_size(order + shift), sky.width,
                      sky.height, sky.distorted)
    step = _level_step(sky, geometry, order + shift)
    z = geometry.levels - 1 - step
    level_w, level_h = geometry.level_size(z)
    # Full-resolution pixel (x, y), 0-based with y up, to the level's pixel (column, row from the top).
    col = np.floor((x + 0.5) / 2**step)
    row = np.floor((sky.height - 0.5 - y) / 2**step)
    inside = np.isfinite(col) & np.isfinite(row) & (col >= 0) & (col < level_w) & (row >= 0) & (row < level_h)
    if not inside.any():
        return out
    col_i, row_i = col[inside].astype(np.int64), row[inside].astype(np.int64)
    ts = geometry.tile_size
    ncols = geometry.grid(z)[0]
    tile_ids = (row_i // ts) * ncols + col_i // ts
    flat = out.reshape(geometry.nchannels, -1)
    targets = np.flatnonzero(inside)
    for tile_id in np.unique(tile_ids):  # one read per pyramid tile: memory stays at one tile
        sel = tile_ids == tile_id
        data = read_tile(z, int(tile_id))
        x0, y0 = (int(tile_id) % ncols) * ts, (int(tile_id) // ncols) * ts
        flat[:, targets[sel]] = data[:, row_i[sel] - y0, col_i[sel] - x0]
    return out


def _level_step(sky: SkyImage, geometry: Any, pixel_order: int) -> int:
    """How many times finer the pyramid's full resolution is than a HEALPix cell of pixel_order, as a power of 2."""
    ratio = healpix.cell_size(pixel_order) / sky.pixel_scale
    step = math.floor(math.log2(ratio)) if ratio >= 1 else 0
    return max(0, min(geometry.levels - 1, step))


def _to_pixels(wcs: WCS, lon: np.ndarray, lat: np.ndarray, tolerance: float, width: int, height: int,
               distorted: bool) -> tuple[np.ndarray, np.ndarray]:
    """0-based image pixels of ICRS positions; NaN outside the image, and where the WCS has no answer or one that
    does not map back to the same sky position (the far side of a projection, a distortion polynomial past its
    domain). Only the positions that land on the image are mapped back: most of a coarse tile does not."""
    frame = wcs_to_celestial_frame(wcs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not isinstance(frame, ICRS):
            native = SkyCoord(lon * u.deg, lat * u.deg, frame=ICRS()).transform_to(frame).spherical
            lon, lat = native.lon.deg, native.lat.deg
        x, y = wcs.all_world2pix(lon, lat, 0, quiet=True)
        with np.errstate(invalid="ignore"):
            on = (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)
        if distorted:  # wcslib alone answers NaN where a projection has no answer; polynomials do not
            back_lon, back_lat = wcs.all_pix2world(x[on], y[on], 0)
            on[on] = _separation(lon[on], lat[on], back_lon, back_lat) <= tolerance / 4
    x[~on] = np.nan
    y[~on] = np.nan
    return x, y


def _distorted(wcs: WCS, header: dict[str, Any]) -> bool:
    """Whether pixel positions go through a distortion: SIP and lookup tables (astropy's), or a polynomial inside
    wcslib (TPV, TPD: wcslib reports those as plain TAN, so the header says)."""
    ctypes = (str(header.get(f"CTYPE{i}", "")).strip().upper() for i in (1, 2))
    return bool(wcs.has_distortion or any(c.endswith(("-TPV", "-TPD", "-SIP")) for c in ctypes))


def _separation(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Angular distance in degrees (haversine, NaN-propagating)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(lon2 - lon1)
    with np.errstate(invalid="ignore"):
        h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
        return np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0, 1))))


def fits_tile(data: np.ndarray, order: int, npix: int | None) -> bytes:
    """A float32 FITS HiPS tile (or Allsky preview, npix None): one plane, rows as HiPS stores them (no WCS: the
    tile's place is its name)."""
    hdu = fits.PrimaryHDU(np.ascontiguousarray(data, dtype=">f4"))
    hdu.header["ORDER"] = (order, "HEALPix order of the tile")
    if npix is not None:
        hdu.header["NPIX"] = (npix, "nested HEALPix index of the tile")
    hdu.header["ORIGIN"] = "tileserver"
    buf = io.BytesIO()
    hdu.writeto(buf)
    return buf.getvalue()


def moc_fits(sky: SkyImage) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sky.moc.serialize("fits").writeto(buf)
    return buf.getvalue()


def properties(sky: SkyImage, ident: str, title: str, cuts: tuple[float, float], data_range: tuple[float, float],
               released: float) -> str:
    """The HiPS `properties` file (HiPS 1.0, section 4.4.1): key = value lines."""
    rows = {
        "creator_did": f"ivo://tileserver/P/{ident}",
        "obs_title": title.replace("\n", " "),
        "dataproduct_type": "image",
        "hips_version": "1.4",
        "hips_builder": "tileserver (tiles made on demand)",
        "hips_release_date": datetime.fromtimestamp(released, timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
        "hips_status": "public master unclonable",
        "hips_frame": "equatorial",
        "hips_order": str(sky.order),
        "hips_order_min": "0",
        "hips_tile_width": str(sky.tile_width),
        "hips_tile_format": "jpeg fits",  # FITS tiles hold the first channel's values
        "hips_pixel_bitpix": "-32",
        "hips_pixel_scale": f"{healpix.cell_size(sky.order + sky.shift):.6g}",
        "s_pixel_scale": f"{sky.pixel_scale:.6g}",
        "hips_initial_ra": f"{sky.center[0]:.8f}",
        "hips_initial_dec": f"{sky.center[1]:.8f}",
        "hips_initial_fov": f"{sky.fov:.6g}",
        "hips_pixel_cut": f"{cuts[0]:.7g} {cuts[1]:.7g}",
        "hips_data_range": f"{data_range[0]:.7g} {data_range[1]:.7g}",
        "moc_sky_fraction": f"{sky.moc.sky_fraction:.6g}",
    }
    width = max(len(k) for k in rows)
    return "".join(f"{k:<{width}} = {v}\n" for k, v in rows.items())
