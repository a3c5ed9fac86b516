"""HiPS over the engine: the sky description of each image (worked out once), and tiles, Allsky previews,
properties and MOCs made on demand from the pyramid with the server's display settings. No HTTP here."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

import numpy as np
from cachetools import LRUCache

from ..display import encode, stats
from ..engine import Engine, Image
from ..errors import Overloaded, TileNotFound
from ..iip import Render
from ..store.pyramid import CorruptEntry
from ..store.tilecache import CachedTile
from . import healpix, hips

# HiPS clients read black as no data in JPEG tiles (outside the image, blank pixels): not the viewer's colour.
HIPS_RENDER = Render(blank=(0, 0, 0))

FORMATS = ("jpg", "fits")
MAX_SKIES = 64  # images whose sky description a worker keeps
BYTES_PER_PIXEL = 4 * 3  # float32, per channel: the resampled tile and the renderer's copies
QUEUE_PER_SLOT = 32  # tiles that may wait for each slot before more are refused (503)


@dataclass(frozen=True)
class HipsKey:
    """A HiPS answer in the memory tile cache: everything that changes its bytes (the display settings are the
    server's, fixed for the life of the process)."""

    image: str  # the image's cache key: changes with the file
    kind: str  # "tile" or "allsky"
    order: int
    npix: int
    fmt: str


class HipsService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._skies: LRUCache[str, hips.SkyImage] = LRUCache(maxsize=MAX_SKIES)
        self._lock = threading.Lock()
        # A new HiPS tile costs a few tenths of a second of CPU, a hundred times an /api tile: as many at once as
        # there are cores to give, a bounded queue behind them, and a 503 past it rather than an unbounded backlog.
        self._slots = max(1, engine.settings.thread_count)
        self._running = threading.BoundedSemaphore(self._slots)
        self._waiting = 0

    def sky(self, image: Image) -> hips.SkyImage:
        """The image's sky description, or NotCelestial. Blocking (a few ms to a few tenths): call in a thread."""
        with self._lock:
            found = self._skies.get(image.key)
        if found is None:
            g = image.geometry
            found = hips.sky_image(image.meta["header"], g.width, g.height)
            with self._lock:
                self._skies[image.key] = found
        return found

    def properties(self, image: Image, ident: str) -> str:
        sky = self.sky(image)
        lo, hi = image.default_cuts[0]
        data_lo, data_hi = stats.cut_presets(image.stats[0])["minmax"]
        built = image.pyramid.manifest
        mtime_ns = built["source"].get("mtime_ns") if built else None
        released = (mtime_ns or time.time_ns()) / 1e9
        title = image.meta.get("object_name") or image.name
        return hips.properties(sky, ident, str(title), (lo, hi), (data_lo, data_hi), released)

    def moc(self, image: Image) -> bytes:
        return hips.moc_fits(self.sky(image))

    def etag(self, image: Image, key: HipsKey) -> bytes:
        ident = repr((key, self.engine.settings_tag))
        return b'"' + hashlib.sha1(ident.encode()).hexdigest()[:20].encode() + b'"'

    def tile(self, image: Image, order: int, npix: int, fmt: str) -> CachedTile:
        """Tile (order, npix) as JPEG (rendered) or FITS (float32 values of the first channel); TileNotFound outside
        the HiPS's orders or the image's footprint."""
        sky = self.sky(image)
        if not 0 <= order <= sky.order:
            raise TileNotFound(f"no tiles at order {order}: this HiPS has orders 0 to {sky.order}", "order")
        if not sky.covers(order, npix):
            raise TileNotFound("the image does not reach this tile", "npix")
        key = HipsKey(image.key, "tile", order, npix, fmt)
        cached = self.engine.tiles.get(key)
        if cached is not None:
            return cached
        self._check_budget(image, sky.tile_width ** 2, "npix")
        data = self._sample(image, sky, order, npix, sky.shift)
        if np.isnan(data).all():
            raise TileNotFound("the image does not reach this tile", "npix")
        body = hips.fits_tile(data[0], order, npix) if fmt == "fits" else self._jpeg(image, data)
        tile = CachedTile(self.etag(image, key), body)
        self.engine.tiles.put(key, tile)
        return tile

    def allsky(self, image: Image, fmt: str) -> CachedTile:
        """The order-3 preview: every tile of order 3 at 64 x 64 in one picture, hipsgen's layout, black where the
        image is not."""
        sky = self.sky(image)
        key = HipsKey(image.key, "allsky", healpix.ALLSKY_ORDER, -1, fmt)
        cached = self.engine.tiles.get(key)
        if cached is not None:
            return cached
        per_row, rows = healpix.allsky_grid()
        side = healpix.ALLSKY_TILE
        self._check_budget(image, per_row * side * rows * side, "path")
        shift = side.bit_length() - 1
        mosaic = np.full((image.geometry.nchannels, rows * side, per_row * side), np.nan, np.float32)
        for npix in range(healpix.tiles_at(healpix.ALLSKY_ORDER)):
            if sky.covers(healpix.ALLSKY_ORDER, npix):
                row, col = divmod(npix, per_row)
                # Placed as the JPEG shows it (rows top first); the FITS preview is the whole picture flipped.
                mosaic[:, row * side:(row + 1) * side, col * side:(col + 1) * side] = \
                    self._sample(image, sky, healpix.ALLSKY_ORDER, npix, shift)[:, ::-1]
        if fmt == "fits":
            body = hips.fits_tile(mosaic[0, ::-1], healpix.ALLSKY_ORDER, None)
        else:
            body = encode.jpeg(self.engine.render_pixels(image, mosaic, HIPS_RENDER), self.engine.settings.quality)
        tile = CachedTile(self.etag(image, key), body)
        self.engine.tiles.put(key, tile)
        return tile

    def _check_budget(self, image: Image, pixels: int, param: str) -> None:
        """Every channel is resampled (and rendered, for JPEG): the memory follows the channels, checked first."""
        self.engine.check_budget(BYTES_PER_PIXEL * image.geometry.nchannels * pixels, param)

    def _sample(self, image: Image, sky: hips.SkyImage, order: int, npix: int, shift: int) -> np.ndarray:
        with self._lock:
            if self._waiting >= QUEUE_PER_SLOT * self._slots:
                raise Overloaded("the server is busy making other HiPS tiles; try again in a moment", "npix")
            self._waiting += 1
        try:
            with self._running:
                return hips.sample(sky, image.geometry, image.pyramid.tile, order, npix, shift)
        except CorruptEntry:
            # The cache entry broke under us: drop it (the next request rebuilds it) and say so.
            self.engine.forget(image.key, image)
            raise Overloaded("the image's cache is being rebuilt; try again in a moment") from None
        finally:
            with self._lock:
                self._waiting -= 1

    def _jpeg(self, image: Image, data: np.ndarray) -> bytes:
        pixels = self.engine.render_pixels(image, np.ascontiguousarray(data[:, ::-1]), HIPS_RENDER)  # JPEG: top first
        return encode.jpeg(pixels, self.engine.settings.quality)
