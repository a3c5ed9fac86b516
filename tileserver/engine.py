"""The library behind the API: open images through the disk cache, describe them, render tiles, regions, values
and profiles. No HTTP here: routes are thin glue over these calls, and everything raises domain errors."""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from cachetools import LRUCache

from . import __version__, access, cutout, datapath
from .config import Settings
from .display import encode, render, stats
from .errors import InvalidParameter, TileServerError, TooLarge
from .iip import ProfileQuery, Query, RegionQuery, Render, TileQuery, ValueQuery, parse_colour
from .images.base import UNPARSED
from .images.direct import SourceFile
from .lifecycle import BuildState, Image, Lifecycle
from .store.diskcache import CheckedPyramid, cache_key, for_settings
from .store.progress import ProgressBoard
from .store.pyramid import CorruptEntry
from .store.tilecache import TileCache

if TYPE_CHECKING:
    from .cluster.sources import RemoteSources

__all__ = ["BuildState", "Engine", "Image"]

T = TypeVar("T")

PERCENT_PRESETS = ("90", "95", "99", "99.5", "99.9")


class Engine(Lifecycle):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        # An s3://bucket/prefix data_dir: sources in the object store (cluster/sources.py), else a local folder.
        self.remote: RemoteSources | None = None
        if settings.data_dir.startswith("s3://"):
            from .cluster.sources import RemoteSources

            self.remote = RemoteSources(settings)
        self.cache = for_settings(settings)
        self.cache.on_evict = self._let_go
        self.tiles = TileCache(settings.max_cache_tile_count, settings.max_cache_tile_bytes,
                               settings.max_cache_tile_entry_bytes)
        self._open: LRUCache[str, Image] = LRUCache(maxsize=settings.max_open_files)
        self._lock = threading.Lock()
        self._builds = threading.BoundedSemaphore(settings.max_concurrent_builds)
        self._waiting = 0
        self._init_lifecycle()
        self.progress: dict[str, BuildState] = {}
        self.listeners: list[Callable[[str, str, BuildState], None]] = []
        # Every build publishes its progress on disk, where the websockets of every worker read it.
        self.board = ProgressBoard(Path(settings.cache_dir) / "progress")
        self._rulebook = access.rulebook(Path(settings.access_file)) if settings.access_file else None
        self.listeners.append(lambda key, image, state: self.board.report(key, image, state.stage, state.fraction))
        # Cluster mode (cluster.node.attach) replaces these: entries from the store's tier, misses to the store.
        self.cluster = None
        self.opener = CheckedPyramid
        self.identity = self.remote.identity if self.remote is not None else cache_key
        # Part of every ETag: the same URL renders differently under other default settings.
        self.settings_tag = hashlib.sha1(repr((
            settings.brightness, settings.contrast, settings.color_saturation, settings.gamma, settings.quality,
            settings.blank_color, __version__)).encode()).hexdigest()[:8]
        self.blank_color = parse_colour(settings.blank_color, "blank_color") or (0, 0, 0)

    @property
    def rules(self) -> access.Rules | None:
        """The access rules in force, which a reload may replace; None when access control is off."""
        return None if self._rulebook is None else self._rulebook.rules

    # -- opening -------------------------------------------------------------------------------------------------

    def grant(self, user: str | None) -> access.Grant | None:
        """What `user` may read under the access file; None when access control is off."""
        return None if self.rules is None else access.Grant(self.rules, user)

    def locate(self, fif: str, user: str | None = None) -> Path:
        if self.remote is not None:
            return self.remote.resolve(fif, grant=self.grant(user))
        return datapath.resolve(self.data_dir, fif, grant=self.grant(user))

    def pinned(self, path: Path) -> AbstractContextManager[Path]:
        """The very file `locate` approved, as a path to read (see datapath.pinned); fetched from an S3 data_dir."""
        return self.remote.pinned(path) if self.remote is not None else datapath.pinned(self.data_dir, path)

    def _open_remote(self, path: Path, query: Query, key: str) -> Image:
        """An S3 source: its pyramid holds the full level too, so the source is fetched only to build it (build
        first), by this process or, in cluster mode, by whoever builds it for the store."""
        if self.cluster is not None:
            return self._wrap(self.cluster.open(path, query, key), query, Path())
        image = self.cache.open(key, lambda entry: self._final(entry, query, Path()), wait=False)
        if image is not None:
            return image
        with self.pinned(path) as pinned:
            file = SourceFile(pinned)
            try:
                source = self._read_source(pinned, query)
                try:
                    return self._build_first(pinned, file, source, query, key)
                finally:
                    source.close()
            finally:
                file.close()

    def anyone_may_read(self, fif: str) -> bool:
        """Whether an anonymous user may read fif (as written and as resolved): its answers may then be cached by
        shared caches."""
        try:
            self.locate(fif, None)
        except TileServerError:
            return False
        return True

    def authorize(self, fif: str, user: str | None) -> None:
        """Raise unless `user` may read fif. For callers that answer from a cache without calling locate()."""
        if self.rules is not None:
            self.locate(fif, user)

    def key_for(self, query: Query) -> tuple[Path, str]:
        path = self.locate(query.fif, query.user)
        try:
            return path, self.identity(path, query.selector, self.settings.tile_size)
        except OSError:
            return path, self.identity(self.locate(query.fif, query.user), query.selector, self.settings.tile_size)

    def _let_go(self, keys: list[str]) -> None:
        """Close the images of entries this process evicted: on a full disk, their room is free only then."""
        with self._lock:
            for key in keys:
                self._open.pop(key, None)

    def default_gamma(self, image: Image) -> float:
        return 1.0 if image.meta["kind"] == "raster" else self.settings.gamma

    # -- descriptions --------------------------------------------------------------------------------------------

    def info(self, image: Image) -> dict[str, Any]:
        g, meta, s = image.geometry, image.meta, self.settings
        chans = range(g.nchannels)
        chips = [
            {
                **chip,
                "background_level": [image.stats[c]["background_level"] for c in chans],
                "background_mad": [image.stats[c]["background_mad"] for c in chans],
                "min_max": [list(image.default_cuts[c]) for c in chans],
            }
            for chip in meta["chips"]
        ]
        return {
            "type": "visiomatic",  # VisiOmatic's own client checks this value
            "server": "tileserver",
            "version": "3.0",
            "server_version": __version__,
            "image_name": image.name,
            "object_name": meta["object_name"],
            "kind": meta["kind"],
            "full_size": [g.width, g.height],
            "tile_size": [g.tile_size, g.tile_size],
            "tile_levels": g.levels,
            "channels": g.nchannels,
            "channel_names": meta["channel_names"] or [f"Channel {c + 1}" for c in chans],
            "bits_per_channel": meta["bits_per_channel"],
            "brightness": s.brightness,
            "contrast": s.contrast,
            "color_saturation": s.color_saturation,
            "gamma": self.default_gamma(image),
            "quality": s.quality,
            "header": {k: v for k, v in meta["header"].items() if k != UNPARSED},
            "unparsed_cards": meta["header"].get(UNPARSED, []),  # cards kept as their raw text
            "images": chips,
            "extensions": meta["extensions"],
            "default_mix": render.mix_matrix(g.nchannels, None, default=meta["mix"]).T.round(6).tolist(),
            "cuts": [
                {"default": list(image.default_cuts[c]), **stats.cut_presets(image.stats[c])} for c in chans
            ],
            "histograms": [image.stats[c]["histogram"] for c in chans],
            "stats": image.stats,
            # Marked while some levels are previews, so that no cache keeps a preview under the final tag.
            "cache_tag": image.cache_tag,
            "final": image.final,
            "built": image.pyramid.stored is not None,  # the cache entry exists (a one-level image is final before)
            "levels_final": [image.level_final(z) for z in range(g.levels)],
        }

    def iip_header(self, image: Image) -> str:
        g = image.geometry
        lo = min(c[0] for c in image.default_cuts)
        hi = max(c[1] for c in image.default_cuts)
        return (
            "IIP:1.0\n"
            f"Max-size:{g.width} {g.height}\n"
            f"Tile-size:{g.tile_size} {g.tile_size}\n"
            f"Resolution-number:{g.levels}\n"
            "Bits-per-channel:32\n"
            f"Min-Max-sample-values:{lo:.7g} {hi:.7g}\n"
        )

    # -- rendering -----------------------------------------------------------------------------------------------

    def etag(self, image: Image, query: TileQuery | RegionQuery) -> str:
        if isinstance(query, TileQuery):  # a preview is not the final tile
            ident = repr((image.tag_for(query.tile[0]), query.kind, query.tile, None, 1, "jpeg", query.render,
                          self.settings_tag))
        else:
            ident = repr((image.cache_tag, query.kind, None, query.region, query.binning, query.output, query.render,
                          self.settings_tag))
        return '"' + hashlib.sha1(ident.encode()).hexdigest()[:20] + '"'

    def tile(self, image: Image, query: TileQuery) -> bytes:
        z, i = query.tile
        channels = self.channels_read(image, query.render)
        data = self.read(image, lambda: image.pyramid.tile(z, i, channels))
        pixels = self.render_pixels(image, data, query.render, channels)
        return encode.jpeg(pixels, self._quality(query.render))

    @staticmethod
    def channels_read(image: Image, r: Render) -> tuple[int, ...] | None:
        """The channels (0-based) a render reads: the one a mono render of a multi-channel image shows (the others
        are not read), or None for all of them."""
        n = image.geometry.nchannels
        return (r.channel - 1,) if n > 1 and r.channel is not None and 1 <= r.channel <= n else None

    def read(self, image: Image, read: Callable[[], T]) -> T:
        """`read()` of the image's pyramid; a corrupt cache entry is dropped (the next open rebuilds it)."""
        try:
            return read()
        except CorruptEntry:
            self.forget(image.key, image)
            raise

    def _quality(self, r: Render) -> int:
        return self.settings.quality if r.quality is None else r.quality

    def cuts(self, image: Image, r: Render) -> list[tuple[float, float]]:
        n = image.geometry.nchannels
        if r.auto_cuts == "minmax":
            cuts = [stats.cut_pair(stats.cut_presets(s)["minmax"]) for s in image.stats]
        else:
            cuts = list(image.default_cuts)
        for c, lo, hi in r.minmax:
            if c > n:
                raise InvalidParameter(f"MINMAX names channel {c}, but the image has {n} channel(s)", "MINMAX")
            cuts[c - 1] = (lo, hi)
        return cuts

    def render_pixels(self, image: Image, data: np.ndarray, r: Render,
                      channels: tuple[int, ...] | None = None) -> np.ndarray:
        """(nchannels, h, w) float32 -> (h, w) or (h, w, 3) uint8 under the display settings `r`; or, with
        `channels`, data of those channels only (the one a mono render shows)."""
        n = image.geometry.nchannels
        s = self.settings
        if r.channel is not None and r.channel > n:
            raise InvalidParameter(f"CHAN {r.channel} does not exist: the image has {n} channel(s)", "CHAN")
        cuts = self.cuts(image, r)
        common: dict[str, Any] = {
            "contrast": s.contrast if r.contrast is None else r.contrast,
            "brightness": s.brightness if r.brightness is None else r.brightness,
            "gamma": self.default_gamma(image) if r.gamma is None else r.gamma,
            "stretch": r.stretch,
            "invert": r.invert,
        }
        blank = r.blank or self.blank_color
        if r.channel is not None or n == 1:
            c = (r.channel or 1) - 1
            plane = data[c if channels is None else channels.index(c)]
            lo, hi = cuts[c]
            pixels = render.render_mono(plane, lo, hi, colormap=r.colormap,
                                        histogram=image.stats[c]["histogram"], **common)
            return render.paint_blank(pixels, lambda: np.isnan(plane), blank)
        assert channels is None, "a colour render mixes every channel"
        pixels = render.render_color(
            data, cuts, self._mix(image, r),
            saturation=s.color_saturation if r.saturation is None else r.saturation,
            histograms=[st["histogram"] for st in image.stats], **common,
        )
        return render.paint_blank(pixels, lambda: np.isnan(data).all(axis=0), blank)

    def _mix(self, image: Image, r: Render) -> np.ndarray:
        n = image.geometry.nchannels
        if r.twist:
            if len(r.twist[0]) != n:
                raise InvalidParameter(f"CTW rows must have one weight per channel ({n})", "CTW")
            return np.array(r.twist, np.float32)
        weights = {}
        for c, red, green, blue in r.mix:
            if c > n:
                raise InvalidParameter(f"MIX names channel {c}, but the image has {n} channel(s)", "MIX")
            weights[c] = (red, green, blue)
        return render.mix_matrix(n, weights or None, default=image.meta["mix"])

    # -- regions, values, profiles -------------------------------------------------------------------------------

    def region_plan(self, image: Image, query: RegionQuery) -> cutout.Plan:
        """Where a region is read from, checked against the image and the limits before any pixel is read."""
        g = image.geometry
        x1, y1, x2, y2 = query.region
        if x1 < 1 or y1 < 1 or x2 > g.width or y2 > g.height:
            raise InvalidParameter(f"RGN must lie inside the image (1,1:{g.width},{g.height})", "RGN")
        # A cutout is data: binned from final levels only, while the coarser ones are previews.
        usable = image.level_final if query.output == "fits" else (lambda z: True)
        p = cutout.plan(g, (x1, y1, x2, y2), query.binning, usable)
        planes = p.tiles(g) * g.nchannels  # every channel is read: the cost follows the channels
        if planes > self.settings.max_region_tile_count:
            raise TooLarge(
                f"the region covers {p.tiles(g)} tiles x {g.nchannels} channel(s) at BIN={query.binning}, over the "
                f"limit of {self.settings.max_region_tile_count} tile planes; use a larger BIN or a smaller region",
                "RGN")
        self.check_budget(3 * 4 * p.pixels_read * g.nchannels, "RGN")  # read, binned and rendered copies
        out_w, out_h = p.size
        side = encode.JPEG_MAX_SIDE if query.output == "jpeg" else encode.MAX_SIDE[query.output]
        if max(out_w, out_h) > side:
            raise TooLarge(f"the output would be {out_w} x {out_h} pixels, over the {query.output} limit", "RGN")
        return p

    def check_budget(self, nbytes: int, param: str) -> None:
        if nbytes > self.settings.max_request_bytes:
            raise TooLarge(f"this request would need about {nbytes // 2**20} MB of memory, over the server's "
                           f"per-request budget (max_request_bytes, {self.settings.max_request_bytes // 2**20} MB)",
                           param)

    def region(self, image: Image, query: RegionQuery) -> tuple[bytes, str]:
        """A snapshot (or FITS cutout) of a region; returns the bytes and a file-name stem."""
        p = self.region_plan(image, query)
        data = self.read(image, lambda: image.pyramid.region(p.z, *p.box))
        if p.block != (1, 1):
            data = cutout.block_mean(data, *p.block)
        x1, y1, x2, y2 = query.region
        stem = f"{Path(image.name).stem}_{x1}-{x2}_{y1}-{y2}_bin{query.binning}"
        if query.output == "fits":
            return encode.fits_bytes(data, cutout.header(image.meta["header"], image.geometry.height, p)), stem
        pixels = self.render_pixels(image, data, query.render)
        return encode.image(pixels, query.output, self._quality(query.render)), stem

    def value(self, image: Image, query: ValueQuery) -> dict[str, Any]:
        g = image.geometry
        x, y = query.point
        channels = self._channels(image, query)
        values = self.read(image, lambda: image.pyramid.pixel(x - 1, g.height - y))
        return {"values": [None if values is None else _json_float(values[c - 1]) for c in channels]}

    def _channels(self, image: Image, query: Query) -> list[int]:
        n = image.geometry.nchannels
        for c in query.channels:
            if c > n:
                raise InvalidParameter(f"CHAN {c} does not exist: the image has {n} channel(s)", "CHAN")
        return list(query.channels) or list(range(1, n + 1))

    def profile(self, image: Image, query: ProfileQuery) -> dict[str, Any]:
        g = image.geometry
        x1, y1, x2, y2 = query.line
        n = max(abs(x2 - x1), abs(y2 - y1)) + 1
        if n > self.settings.max_profile_length:
            raise TooLarge(f"the profile would have {n} points, over the limit of "
                           f"{self.settings.max_profile_length}", "PFL")
        channels = self._channels(image, query)
        t = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)
        xs = np.rint(x1 + (x2 - x1) * t).astype(np.int64)
        ys = np.rint(y1 + (y2 - y1) * t).astype(np.int64)
        values = self.read(image, lambda: self._sample_points(image, xs - 1, g.height - ys))
        return {"profile": [
            {"x": int(xs[j]), "y": int(ys[j]),
             "values": [_json_float(values[c - 1, j]) for c in channels]}
            for j in range(n)
        ]}

    def _sample_points(self, image: Image, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """Full-resolution values at display pixels (dx, dy), NaN outside; one read per tile touched."""
        g = image.geometry
        out = np.full((g.nchannels, dx.size), np.nan, np.float32)
        inside = (dx >= 0) & (dx < g.width) & (dy >= 0) & (dy < g.height)
        ts, z = g.tile_size, g.levels - 1
        ncols = g.grid(z)[0]
        tile_ids = (dy // ts) * ncols + dx // ts
        for tile_id in np.unique(tile_ids[inside]):
            sel = inside & (tile_ids == tile_id)
            tile = image.pyramid.tile(z, int(tile_id))
            x0, y0, _, _ = g.tile_box(z, int(tile_id))
            out[:, sel] = tile[:, dy[sel] - y0, dx[sel] - x0]
        return out


def _json_float(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None
