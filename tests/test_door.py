"""The one door and the seal (doc/security.rst, classes 1 and 2 of the audit): parsers of user content open
nothing, every file a request reaches is opened by tileserver.datapath, hidden names are never served and link loops
cost nothing. The suite-wide audit hook that enforces the door is support/door.py, installed by conftest.py."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest


def api(client: Any, fif: str, **params: str) -> Any:
    return client.get("/api", params={"FIF": fif, **params})


# -- 1. parsers never open anything ------------------------------------------------------------------------------

@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text("TOP-SECRET circle(1,2,3)\n")
    return path


def test_region_files_never_reach_other_files(client, secret):
    """ds9 region text naming a file (ds9's own `@file` include, a `# include`, a URL) is parsed as text or refused:
    never opened."""
    from tileserver.datapath import sealed

    for body in (f"@{secret}\n", f"# include {secret}\nimage\ncircle(1,2,3)\n",
                 f"image\ncircle(1,2,3) # tag={{{secret.as_uri()}}}\n"):
        r = client.post("/extra/regions", content=body.encode())
        assert r.status_code in (200, 422), r.text
        assert "TOP-SECRET" not in r.text  # (the line posted may be quoted back: it is the client's own text)
    # The guard under the parsers: while sealed, no file or socket can be opened, whatever the library tries.
    with sealed():
        with pytest.raises(PermissionError):
            open(secret)
        with pytest.raises(PermissionError):
            import socket
            socket.create_connection(("127.0.0.1", 9), timeout=1)


def test_a_votable_cannot_inflate_itself(client):
    """A VOTable may not ask astropy to preallocate what it does not hold (nrows, huge arraysize) nor to inflate a
    gzip'd stream: refused before astropy parses it."""
    field = '<FIELD name="a" datatype="char" arraysize="2000000000"/>'
    big = ('<?xml version="1.0"?><VOTABLE version="1.4"><RESOURCE><TABLE nrows="2000000000">'
           f'{field}<DATA><TABLEDATA><TR><TD>x</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>')
    gz = ('<?xml version="1.0"?><VOTABLE version="1.4"><RESOURCE><TABLE><FIELD name="a" datatype="int"/>'
          '<DATA><BINARY><STREAM encoding="gzip">H4sIAAAAAAAA/w==</STREAM></BINARY></DATA></TABLE></RESOURCE>'
          '</VOTABLE>')
    for body in (big, gz):
        r = client.post("/extra/votable", content=body.encode())
        assert r.status_code in (413, 422), r.text
        assert "Traceback" not in r.text


# -- 2. one door -------------------------------------------------------------------------------------------------

@pytest.fixture
def extra_tree(tmp_path: Path) -> Path:
    root = tmp_path / "extra"
    (root / "a" / "b").mkdir(parents=True)
    (root / "stars.csv").write_text("ra,dec\n150,2\n")
    (root / ".secret.csv").write_text("ra,dec\n6,6\n")
    (root / ".git").mkdir()
    (root / ".git" / "config.csv").write_text("ra,dec\n7,7\n")
    (root / "a" / "b" / "loop").symlink_to("../..")  # a loop back to the root
    (root / "c").mkdir()
    (root / "c" / "cat.csv").write_text("ra,dec\n1,1\n")
    for i in range(6):  # a and c link to each other six times over: 6^depth names for one file
        (root / "a" / f"x{i}").symlink_to("../c")
        (root / "c" / f"y{i}").symlink_to("../a")
    return root


def test_hidden_files_are_never_served(client_for, extra_tree, data_dir, make_fits):
    client = client_for(extra_dir=str(extra_tree))
    for path in (".secret.csv", ".git/config.csv", "a/../.secret.csv"):
        r = client.get("/extra/file", params={"path": path})
        assert r.status_code in (403, 404) and "6,6" not in r.text and "7,7" not in r.text
    make_fits(".hidden.fits", width=20, height=20)
    make_fits(".private/p.fits", width=20, height=20)
    (data_dir / "pub.fits").symlink_to(".hidden.fits")
    for fif in (".hidden.fits", ".private/p.fits", "pub.fits"):
        assert api(client, fif, INFO="").status_code == 404, fif
    listing = client.get("/list").json()
    assert [e["name"] for e in listing["entries"]] == []  # pub.fits leads to a hidden file


def test_symlink_loops_in_the_extra_folder_are_harmless(client_for, extra_tree):
    client = client_for(extra_dir=str(extra_tree))
    r = client.get("/extra/list")
    assert r.status_code == 200
    names = sorted(e["name"] for e in r.json()["entries"])
    assert names == ["cat.csv", "stars.csv"], names  # each real file once, whatever the loops
    assert client.get("/extra/file", params={"path": "a/b/loop/stars.csv"}).status_code in (200, 404)


def test_the_manual_and_client_files_go_through_the_door(client_for, tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "index.html").write_text("<p>manual</p>")
    (manual / ".htpasswd").write_text("admin:secret")
    (manual / "escape.html").symlink_to(tmp_path / "outside.html")
    (tmp_path / "outside.html").write_text("outside")
    client = client_for(doc_dir=str(manual))
    assert client.get("/manual/").text == "<p>manual</p>"
    assert client.get("/manual/.htpasswd").status_code == 404
    assert client.get("/manual/escape.html").status_code == 404
    assert client.get("/client/js/leaflet.js").status_code == 200


def test_the_door_audit_sees_a_bypass(data_dir):
    """The suite-wide audit hook (support/door.py) is not blind: an open in a served folder by a server-side thread,
    not through the door, is recorded."""
    from tileserver import datapath

    from support import door

    datapath.resolve(data_dir, "", want_dir=True)  # data_dir is now a folder the door serves
    (data_dir / "x.txt").write_text("x")
    start = len(door.BYPASSES)
    reader = threading.Thread(target=lambda: open(data_dir / "x.txt").close())
    reader.start()
    reader.join()
    seen = door.BYPASSES[start:]
    del door.BYPASSES[start:]
    assert seen and "x.txt" in seen[0]
