"""One identity per image: every spelling of an image's name shares one build, one cache entry and one status
record, and a rewritten file is a new image whatever its size and mtime."""

from __future__ import annotations

import os
import time

import pytest

from tileserver.iip import split_fif

from support.images import sky
from support.servers import wait_for


@pytest.mark.parametrize("fif,path,selector", [
    ("a.fits", "a.fits", None), ("a.fits[0]", "a.fits", "0"), ("a.fits[00]", "a.fits", "0"),
    ("a.fits[ 000 ]", "a.fits", "0"), ("./d//a.fits[sci]", "d/a.fits", "SCI"),
    ("a.fits[ Sci , 02 ]", "a.fits", "SCI,2"),
    ("/etc/x.fits", "/etc/x.fits", None), ("../x.fits", "../x.fits", None),
])
def test_canonical_names(fif, path, selector):
    assert split_fif(fif) == (path, selector)


def test_one_selector_one_entry(client, make_fits, cache_dir):
    make_fits("a.fits", width=30, height=20)
    spellings = ("a.fits[0]", "a.fits[00]", "a.fits[000]", "a.fits[ 0 ]", "./a.fits[0]", ".//a.fits[000]")
    tags = {client.get("/api", params={"FIF": f, "INFO": ""}).json()["cache_tag"] for f in spellings}
    assert len(tags) == 1
    entries = wait_for(lambda: list((cache_dir / "entries").iterdir()), "the build's cache entry")  # built behind
    time.sleep(0.5)
    assert len(entries) == len(list((cache_dir / "entries").iterdir())) == 1
    assert client.get("/api", params={"FIF": "a.fits[00]", "INFO": ""}).json()["image_name"] == "a.fits[0]"


def test_a_rewrite_with_the_same_size_and_mtime_is_seen(client, make_fits):
    path = make_fits("a.fits", sky(30, 20, seed=1))
    before = os.stat(path)
    first = client.get("/api", params={"FIF": "a.fits", "VAL": "1,1"}).json()["values"][0]
    make_fits("a.fits", sky(30, 20, seed=2))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same mtime: only ctime and inode tell
    time.sleep(1.1)  # the API trusts a resolved cache key for a second (KEY_TTL)
    second = client.get("/api", params={"FIF": "a.fits", "VAL": "1,1"}).json()["values"][0]
    assert second != first
