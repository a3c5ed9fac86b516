"""SAMP for real: a Web Profile hub (pyvo.samp, the home of astropy.samp) on its fixed port 21012, a Python SAMP
client, and the viewer in Chromium. The viewer registers only when the user presses Connect (the hub's consent
dialog is answered by the test); it sends the view as a FITS cutout whose WCS matches the view, a catalog of the
extra folder as a VOTable and a clicked position; it pans to a position it receives and opens an image of the data
folder named by a file: URL, refusing any other with a message. Plus the server's two routes in-process.
"""

from __future__ import annotations

import io
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from astropy.io import fits, votable
from astropy.table import Table
from astropy.wcs import WCS

from support.images import sky, tan_header
from support.servers import LiveServer, server_env, wait_for

W, H = 500, 400


# -- the server's routes, in-process -----------------------------------------------------------------------------

def test_file_urls_resolve_only_inside_the_data_folder(client, make_fits, data_dir, tmp_path):
    make_fits("night/a b.fits", width=32, height=32)
    (tmp_path / "outside.fits").write_bytes((data_dir / "night" / "a b.fits").read_bytes())
    url = (data_dir / "night" / "a b.fits").as_uri()
    r = client.get("/samp/image", params={"url": url})
    assert r.status_code == 200 and r.json() == {"image": "night/a b.fits"}
    refused = [(tmp_path / "outside.fits").as_uri(), (data_dir / "missing.fits").as_uri(),
               (data_dir / ".." / "outside.fits").as_uri(), "file:///etc/passwd", "http://example.com/a.fits",
               "file://otherhost" + str(data_dir / "night" / "a b.fits"), "", "x" * 5000, "file:///%ff%fe.fits", "file://[::1/x.fits",
               "file://" + str(data_dir) + "/%00.fits",
               (data_dir / "night").as_uri()]
    for bad in refused:
        r = client.get("/samp/image", params={"url": bad})
        assert r.status_code in (404, 422), bad
        assert str(data_dir) not in r.text and str(tmp_path) not in r.text
        if r.status_code == 404:  # one answer, whatever the reason: no map of the disk
            assert r.json()["detail"][0]["msg"] == "this server opens only images of its data folder, named by a " \
                                                   "file: URL inside it"


def test_csv_catalogs_as_votables(client_for, tmp_path):
    extra = tmp_path / "extra"
    extra.mkdir()
    Table({"id": [1, 2], "ra": [150.1, 150.2], "dec": [2.0, 2.1]}).write(extra / "stars.csv", format="csv")
    (extra / "bad.csv").write_text("a,b\n1,2,3,4\n5\n", encoding="utf-8")
    client = client_for(extra_dir=str(extra))
    r = client.get("/samp/votable", params={"path": "stars.csv"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-votable+xml"
    table = votable.parse_single_table(io.BytesIO(r.content)).to_table()
    assert list(table["ra"]) == [150.1, 150.2] and list(table["id"]) == [1, 2]
    assert client.get("/samp/votable", params={"path": "../stars.csv"}).status_code == 403
    assert client.get("/samp/votable", params={"path": "nope.csv"}).status_code == 404
    assert client.get("/samp/votable", params={"path": "stars.reg"}).status_code == 415
    assert client.get("/samp/votable", params={"path": "bad.csv"}).status_code == 415


# -- the real thing ----------------------------------------------------------------------------------------------

class Consent:
    """The hub's Web Profile consent dialog, answered yes, remembering who asked (pyvo's WebProfileDialog API)."""

    def __init__(self) -> None:
        from pyvo.samp.hub import WebProfileDialog

        self.asked: list[tuple[str, str]] = []
        outer = self

        class Dialog(WebProfileDialog):
            def show_dialog(self, samp_name: str, details: Any, client: Any, origin: str) -> None:
                outer.asked.append((samp_name, origin))
                self.consent()

        self.dialog = Dialog()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.dialog.handle_queue()
            time.sleep(0.05)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[Any, Consent]]:
    from pyvo.samp import SAMPHubServer

    consent = Consent()
    hub = SAMPHubServer(web_profile=True, web_profile_dialog=consent.dialog, lockfile=str(tmp_path / "samp.lock"),
                        addr="127.0.0.1", label="test hub")
    hub.start(wait=False)
    consent.start()
    yield hub, consent
    consent.stop()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the hub's threads may warn about clients gone mid-call
        hub.stop()


@pytest.fixture
def receiver(hub: tuple[Any, Consent]) -> Iterator[tuple[Any, list[tuple[str, dict[str, str]]]]]:
    from pyvo.samp import SAMPIntegratedClient

    received: list[tuple[str, dict[str, str]]] = []
    client = SAMPIntegratedClient(name="test receiver")
    client.connect(hub=hub[0])

    def note(private_key: str, sender_id: str, mtype: str, params: dict[str, str], extra: dict[str, str]) -> None:
        received.append((mtype, params))

    for mtype in ("image.load.fits", "table.load.votable", "coord.pointAt.sky"):
        client.bind_receive_notification(mtype, note)
    yield client, received
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client.disconnect()


@pytest.fixture
def server(tmp_path: Path, data_dir: Path, make_fits: Any) -> Iterator[LiveServer]:
    make_fits("field.fits", sky(W, H, seed=3), header=tan_header(W, H))
    make_fits("deep/other.fits", sky(300, 200, seed=4))
    extra = tmp_path / "extra"
    extra.mkdir()
    wcs = WCS(tan_header(W, H))
    ra, dec = wcs.wcs_pix2world([100, 250, 400], [80, 200, 330], 1)
    Table({"id": [1, 2, 3], "RAJ2000": ra, "DEJ2000": dec}).write(extra / "stars.csv", format="csv")
    env = {**server_env(data_dir, tmp_path / "cache", tmp_path / "config"), "TILESERVER_EXTRA_DIR": str(extra)}
    srv = LiveServer(["--tile-size", "128"], env, tmp_path / "server.log").start()
    yield srv
    srv.stop()


def settle(page: Any) -> None:
    page.wait_for_function("() => { const v = window.tileserverViewer; return v && v.rendered && "
                           "!v.rendered.loading; }", timeout=30000)


def last(received: list[tuple[str, dict[str, str]]], mtype: str) -> dict[str, str]:
    return wait_for(lambda: next((p for m, p in reversed(received) if m == mtype), None), mtype)


@pytest.mark.browser
def test_viewer_and_a_samp_client_exchange_views_catalogs_and_positions(hub, receiver, server, page, data_dir):
    client, received = receiver
    _, consent = hub
    page.goto(f"{server.url}/?image=field.fits")
    settle(page)
    page.keyboard.press("y")
    assert page.locator(".ts-panel-samp").is_visible()
    time.sleep(0.5)
    assert not consent.asked and not received  # nothing before the user connects
    page.click("[data-action=samp-connect]")
    page.wait_for_selector(".ts-panel-samp[data-connected=true]", timeout=20000)
    assert consent.asked and consent.asked[0][0] == "tileserver" and str(server.port) in consent.asked[0][1]

    # The view as a FITS cutout whose WCS is the view's.
    page.click("[data-action=samp-send-view]")
    params = last(received, "image.load.fits")
    with fits.open(io.BytesIO(httpx.get(params["url"], timeout=30).content)) as hdul:
        cutout, header = hdul[0].data, hdul[0].header
    centre = page.evaluate("() => { const v = window.tileserverViewer;"
                           " return v.wcs.pixelToWorld(...v.centerPixel()); }")
    view_px = page.evaluate("() => window.tileserverViewer.centerPixel()")
    full, cut = WCS(tan_header(W, H)), WCS(header)
    assert np.allclose(full.wcs_pix2world([view_px], 1)[0], centre, atol=1e-9)  # the viewer agrees with astropy
    # The view's centre is the cutout's centre, to within a (binned) pixel.
    cx, cy = cut.wcs_world2pix([centre], 1)[0]
    binning = round(abs(header["CD1_1"] / -5.5e-5))
    assert abs(cx - (cutout.shape[1] + 1) / 2) <= 1 and abs(cy - (cutout.shape[0] + 1) / 2) <= 1, (cx, cy, binning)
    # And its pixels are the image's, at the place its WCS says.
    x0, y0 = np.round(full.wcs_world2pix(cut.wcs_pix2world([[1, 1]], 1), 1)[0]).astype(int)
    if binning == 1:
        data = fits.getdata(data_dir / "field.fits")
        assert np.array_equal(cutout[:5, :5], data[y0 - 1:y0 + 4, x0 - 1:x0 + 4])

    # A catalog of the extra folder, as a VOTable.
    page.keyboard.press("k")
    page.click(".ts-extra-files [data-path='stars.csv']")
    page.wait_for_selector(".ts-layer-item[data-overlay='stars.csv']")
    page.keyboard.press("y")
    page.click("[data-action=samp-send-catalogs]")
    params = last(received, "table.load.votable")
    table = votable.parse_single_table(io.BytesIO(httpx.get(params["url"], timeout=30).content)).to_table()
    assert list(table["id"]) == [1, 2, 3]

    # A click sends its sky position.
    page.check("[data-action=samp-send-clicks]")
    box = page.locator(".ts-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2 + 40, box["y"] + box["height"] / 2 - 30)
    params = last(received, "coord.pointAt.sky")
    clicked = page.evaluate("([x, y]) => { const v = window.tileserverViewer;"
                            " return v.mapping.latLngToFits(v.map.containerPointToLatLng([x, y])); }",
                            [box["width"] / 2 + 40, box["height"] / 2 - 30])
    assert np.allclose(full.wcs_pix2world([clicked], 1)[0], [float(params["ra"]), float(params["dec"])],
                       atol=1e-7)

    # A position sent to the viewer: it pans there.
    ra, dec = full.wcs_pix2world([[120.0, 90.0]], 1)[0]
    client.notify_all({"samp.mtype": "coord.pointAt.sky", "samp.params": {"ra": str(ra), "dec": str(dec)}})
    page.wait_for_function("() => { const [x, y] = window.tileserverViewer.centerPixel();"
                           " return Math.abs(x - 120) < 1 && Math.abs(y - 90) < 1; }", timeout=20000)

    # An image of the data folder by its file: URL opens; anything else is refused in plain words.
    outside = data_dir.parent / "secret.fits"
    outside.write_bytes((data_dir / "field.fits").read_bytes())
    client.notify_all({"samp.mtype": "image.load.fits",
                       "samp.params": {"url": outside.as_uri(), "name": "secret"}})
    page.wait_for_selector("text=SAMP: cannot open secret", timeout=20000)
    assert page.evaluate("() => window.tileserverViewer.image") == "field.fits"
    client.notify_all({"samp.mtype": "image.load.fits",
                       "samp.params": {"url": (data_dir / "deep" / "other.fits").as_uri(), "name": "other"}})
    page.wait_for_function("() => window.tileserverViewer.image === 'deep/other.fits'", timeout=20000)
    settle(page)
    page.screenshot(path=str(Path(__file__).resolve().parent.parent / "test-artifacts" / "samp-viewer.png"))
    page.console_errors[:] = [e for e in page.console_errors if "404" not in e]  # the refused URL's own answer
    page.failed_requests[:] = [r for r in page.failed_requests if "/samp/image" not in r]
    assert not page.console_errors and not page.failed_requests, (page.console_errors, page.failed_requests)
