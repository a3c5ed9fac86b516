"""HTTP caching of tiles and regions (ETag, If-None-Match, Cache-Control, immutable tagged URLs) and the per-worker
memory cache of encoded tiles behind it."""

from __future__ import annotations

import os
import threading
import tracemalloc

import pytest

from tileserver.iip import Render
from tileserver.store.tilecache import CachedTile, TileCache, TileKey, deep_size, entry_size
from tileserver.web import api

from support.servers import wait_for

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=60, must-revalidate"


@pytest.fixture
def served(client, make_fits):
    make_fits("sky.fits", width=600, height=500)
    # Once built: until then the coarser levels are previews, whose identity is not the final tiles'.
    info = wait_for(lambda: (i := client.get("/api?FIF=sky.fits&INFO").json())["final"] and i, "the build")
    return client, info["cache_tag"]


def test_tile_headers_and_immutable_tagged_urls(served):
    client, tag = served
    plain = client.get("/api?FIF=sky.fits&JTL=2,1")
    tagged = client.get(f"/api?FIF=sky.fits&JTL=2,1&V={tag}")
    stale = client.get("/api?FIF=sky.fits&JTL=2,1&V=0123456789abcdef01234567")
    for r in (plain, tagged, stale):
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert r.headers["content-length"] == str(len(r.content))
        assert r.headers["etag"].startswith('"') and r.headers["etag"].endswith('"')
    assert tagged.headers["cache-control"] == IMMUTABLE
    assert plain.headers["cache-control"] == REVALIDATE and stale.headers["cache-control"] == REVALIDATE
    assert plain.content == tagged.content and plain.headers["etag"] == tagged.headers["etag"]


@pytest.mark.parametrize("header, status", [
    ("{etag}", 304),
    ("W/{etag}", 304),
    ('"nope", {etag}', 304),
    ("*", 304),
    ('"nope"', 200),
    ("", 200),
])
def test_if_none_match(served, header, status):
    client, tag = served
    for url in (f"/api?FIF=sky.fits&JTL=2,3&V={tag}", "/api?FIF=sky.fits&RGN=1,1:300,200&BIN=2"):
        first = client.get(url)
        etag = first.headers["etag"]
        again = client.get(url, headers={"If-None-Match": header.format(etag=etag)})
        assert again.status_code == status
        assert again.headers["etag"] == etag
        assert again.content == (b"" if status == 304 else first.content)


def test_not_modified_without_rendering(client, make_fits):
    make_fits("sky.fits", width=600, height=500)
    etag = client.get("/api?FIF=sky.fits&JTL=2,0&CNT=3").headers["etag"]
    tiles = client.app.state.engine.tiles
    tiles.clear()
    r = client.get("/api?FIF=sky.fits&JTL=2,0&CNT=3", headers={"If-None-Match": etag})
    assert r.status_code == 304 and tiles.count == 0


def test_etag_changes_with_what_changes_the_bytes(served):
    client, _ = served
    etags = {}
    for query in ("JTL=2,0", "JTL=2,1", "JTL=1,0", "JTL=2,0&CNT=2", "JTL=2,0&GAM=1", "JTL=2,0&QLT=50",
                  "JTL=2,0&CMP=jet", "JTL=2,0&INV", "JTL=2,0&MINMAX=1:0,500"):
        etags[query] = client.get(f"/api?FIF=sky.fits&{query}").headers["etag"]
    assert len(set(etags.values())) == len(etags)
    # Parameter order, spelling and the V tag do not change the bytes, nor the ETag.
    assert client.get("/api?JTL=2,0&FIF=sky.fits&V=x").headers["etag"] == etags["JTL=2,0"]
    assert client.get("/api?fif=sky.fits&jtl=2,0").headers["etag"] == etags["JTL=2,0"]


def test_memory_cache_is_keyed_by_the_request_record(served):
    client, _ = served
    tiles = client.app.state.engine.tiles
    tiles.clear()
    hits = tiles.hits
    urls = ["/api?FIF=sky.fits&JTL=2,2&CNT=1.5", "/api?CNT=1.5&JTL=2,2&FIF=sky.fits",
            "/api?FIF=sky.fits&JTL=2,2&CNT=1.50"]
    bodies = {client.get(url).content for url in urls * 2}
    assert len(bodies) == 1 and tiles.count == 1 and tiles.hits - hits == 5


def test_rewritten_file_gets_new_etag_and_bytes(client, make_fits, monkeypatch):
    monkeypatch.setattr(api, "KEY_TTL", 0.0)
    path = make_fits("sky.fits", width=600, height=500, seed=1)
    before = client.get("/api?FIF=sky.fits&JTL=2,0")
    tag = client.get("/api?FIF=sky.fits&INFO").json()["cache_tag"]
    make_fits("sky.fits", width=600, height=500, seed=2)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    after = client.get("/api?FIF=sky.fits&JTL=2,0")
    assert after.headers["etag"] != before.headers["etag"] and after.content != before.content
    assert client.get("/api?FIF=sky.fits&INFO").json()["cache_tag"] != tag
    assert client.get(f"/api?FIF=sky.fits&JTL=2,0&V={tag}").headers["cache-control"] == REVALIDATE


def test_head_request(served):
    client, tag = served
    get = client.get(f"/api?FIF=sky.fits&JTL=2,4&V={tag}")
    head = client.head(f"/api?FIF=sky.fits&JTL=2,4&V={tag}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == get.headers["etag"] and head.headers["content-length"] == str(len(get.content))


def key(i: int) -> TileKey:
    return TileKey("image", (0, i), Render(contrast=float(i)))


def test_tile_cache_bounded_by_count_and_bytes():
    by_count = TileCache(max_count=3, max_bytes=10**6)
    for i in range(5):
        by_count.put(key(i), CachedTile(b'"e"', bytes(100)))
    assert by_count.count == 3 and by_count.get(key(0)) is None and by_count.get(key(4)) is not None
    by_bytes = TileCache(max_count=100, max_bytes=3000)
    for i in range(10):
        by_bytes.put(key(i), CachedTile(b'"e"', bytes(500)))
    each = entry_size(deep_size(key(0)), CachedTile(b'"e"', bytes(500)))
    assert by_bytes.nbytes <= 3000 and by_bytes.count == 3000 // each
    by_bytes.put(key(99), CachedTile(b'"e"', bytes(5000)))  # larger than the whole cache: not kept
    assert by_bytes.get(key(99)) is None
    off = TileCache(max_count=0, max_bytes=3000)
    off.put(key(1), CachedTile(b'"e"', b"x"))
    assert off.count == 0


def test_tile_cache_keeps_no_answer_over_its_entry_cap():
    cache = TileCache(max_count=100, max_bytes=10**8, max_entry_bytes=10_000)
    cache.put(key(1), CachedTile(b'"e"', bytes(10_000)))
    cache.put(key(2), CachedTile(b'"e"', bytes(10_001)))  # a HiPS Allsky in FITS, say: served, not kept
    assert cache.get(key(1)) is not None and cache.get(key(2)) is None and cache.count == 1


def test_tile_cache_byte_bound_bounds_the_memory_it_holds():
    """Keys count too: the display settings of a long query string are tens of kB of Python objects."""
    bound = 2 * 2**20
    cache = TileCache(max_count=10**6, max_bytes=bound)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(2000):
            twist = tuple(tuple(float(i + j + k) for k in range(100)) for j in range(3))  # a long CTW
            cache.put(TileKey(f"image{i}", (0, i), Render(contrast=float(i), twist=twist)),
                      CachedTile(b'"%d"' % i, bytes(300)))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert cache.nbytes <= bound and 0 < cache.count < 2000
    assert held <= 1.1 * bound, f"{held} bytes held for a bound of {bound}"


def test_tile_cache_least_recently_used_goes_first():
    cache = TileCache(max_count=2, max_bytes=10**6)
    cache.put(key(1), CachedTile(b'"1"', b"1"))
    cache.put(key(2), CachedTile(b'"2"', b"2"))
    assert cache.get(key(1)) is not None  # 1 is now the most recent
    cache.put(key(3), CachedTile(b'"3"', b"3"))
    assert cache.get(key(2)) is None and cache.get(key(1)) is not None and cache.get(key(3)) is not None


def test_tile_cache_under_threads():
    cache = TileCache(max_count=50, max_bytes=10**6)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(2000):
                k = key((seed * 7 + i) % 120)
                tile = cache.get(k)
                assert tile is None or tile.data == b"%d" % k.tile[1]
                cache.put(k, CachedTile(b'"e"', b"%d" % k.tile[1]))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and cache.count == 50
