"""Access control for multi-user servers: a trusted proxy names the user, an access file says who reads which data
sub-folder. Checked on every path that reaches a file or folder (API, caches included, listing, progress,
websocket), in-process and behind a real nginx doing basic auth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

from tileserver import access
from tileserver.errors import SettingError

PROXY, STRANGER = "10.0.0.1", "10.0.0.2"
SECRET = "s3cret-shared-with-the-proxy-0123"

ACCESS = """
[groups]
survey = alice, bob

[folders]
# who reads what
public = *
survey = @survey, carol
survey/raw = alice
private = alice
shared = +
"""

FILES = ["top.fits", "public/p.fits", "survey/s.fits", "survey/raw/r.fits", "private/a.fits", "shared/x.fits"]


def write_fits(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(np.random.default_rng(seed).normal(100, 5, (32, 32)).astype(np.float32)).writeto(path)


@pytest.fixture
def tree(tmp_path: Path, data_dir: Path) -> Path:
    for seed, name in enumerate(FILES):
        write_fits(data_dir / name, seed)
    (data_dir / "public" / "door.fits").symlink_to("../private/a.fits")  # a public name for a private file
    path = tmp_path / "access.conf"
    path.write_text(ACCESS, encoding="utf-8")
    return path


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "proxy-secret"
    path.write_text(SECRET + "\n", encoding="utf-8")
    return path


@pytest.fixture
def connect(client_for: Any, secret_file: Path) -> Any:
    """connect(address, **settings): an in-process client whose requests come from `address`, behind a proxy that
    shares SECRET with it (as_user sends it)."""
    return lambda address=PROXY, **overrides: client_for(address=address, **{
        "proxy_secret_file": str(secret_file), **overrides})


def as_user(user: str | None, secret: str = SECRET) -> dict[str, str]:
    """What the proxy sends for `user` (None: anonymous): the user header, and the proxy's secret."""
    return {"X-Remote-User": user, "X-Tileserver-Proxy-Secret": secret} if user else {}


# Who may read each file: None is anonymous, dave is authenticated but named nowhere.
READERS = {
    "top.fits": set(),
    "public/p.fits": {None, "alice", "bob", "carol", "dave"},
    "public/door.fits": {"alice"},
    "survey/s.fits": {"alice", "bob", "carol"},
    "survey/raw/r.fits": {"alice"},
    "private/a.fits": {"alice"},
    "shared/x.fits": {"alice", "bob", "carol", "dave"},
}


@pytest.mark.parametrize("user", [None, "alice", "bob", "carol", "dave"])
def test_who_reads_what(connect, tree, user):
    client = connect(access_file=str(tree), trusted_proxies=PROXY)
    for fif, readers in READERS.items():
        for extra in ({"INFO": ""}, {"JTL": "0,0"}, {"VAL": "1,1"}):
            r = client.get("/api", params={"FIF": fif, **extra}, headers=as_user(user))
            assert r.status_code == (200 if user in readers else 403), (user, fif, extra, r.text)
        r = client.get("/progress", params={"FIF": fif}, headers=as_user(user))
        assert r.status_code == (200 if user in readers else 403), (user, fif)
    denied = client.get("/api", params={"FIF": "private/nothing-here.fits", "INFO": ""}, headers=as_user(user))
    assert denied.status_code == (404 if user == "alice" else 403)  # a refusal says nothing of what exists


def test_caches_never_answer_for_someone_else(connect, tree):
    client = connect(access_file=str(tree), trusted_proxies=PROXY)
    tile = {"FIF": "private/a.fits", "JTL": "0,0"}
    for _ in range(3):  # the second and third come from the memory cache, by their query string alone
        r = client.get("/api", params=tile, headers=as_user("alice"))
        assert r.status_code == 200 and r.headers["cache-control"].startswith("private")
        assert client.get("/api", params=tile).status_code == 403
        assert client.get("/api", params=tile, headers=as_user("bob")).status_code == 403
    # Tiles anyone may read stay public, for a shared proxy cache; a public name of a private file does not.
    for user in (None, "alice"):
        r = client.get("/api", params={"FIF": "public/p.fits", "JTL": "0,0"}, headers=as_user(user))
        assert r.headers["cache-control"].startswith("public"), user
    r = client.get("/api", params={"FIF": "public/door.fits", "JTL": "0,0"}, headers=as_user("alice"))
    assert r.status_code == 200 and r.headers["cache-control"].startswith("private")
    r = client.get("/api", params={"FIF": "public/../private/a.fits", "JTL": "0,0"}, headers=as_user("alice"))
    assert r.status_code != 200 or r.headers["cache-control"].startswith("private")


def test_header_only_from_trusted_proxies(connect, tree):
    direct = connect(STRANGER, access_file=str(tree), trusted_proxies=PROXY)
    r = direct.get("/api", params={"FIF": "private/a.fits", "INFO": ""}, headers=as_user("alice"))
    assert r.status_code == 403  # anyone can send the header: only the proxy's is believed
    assert direct.get("/api", params={"FIF": "public/p.fits", "INFO": ""}).status_code == 200
    proxied = connect(access_file=str(tree), trusted_proxies=f"192.168.0.0/16, {PROXY}/32")
    twice = [("X-Remote-User", "bob"), ("X-Remote-User", "alice"),  # a client's own header next to the proxy's
             ("X-Tileserver-Proxy-Secret", SECRET)]
    assert proxied.get("/api", params={"FIF": "private/a.fits", "INFO": ""}, headers=twice).status_code == 403
    for bad in ("", "   ", "a" * 300, "alice\x7f"):
        assert proxied.get("/api", params={"FIF": "shared/x.fits", "INFO": ""},
                           headers=as_user("x") | {"X-Remote-User": bad}).status_code == 403, bad


def test_without_the_proxy_secret_nobody_is_anyone(connect, tree):
    """A local process reaches the server from a trusted address: without the secret, it is anonymous."""
    client = connect(access_file=str(tree), trusted_proxies=PROXY, admin_allow="192.0.2.7")
    fif = {"FIF": "private/a.fits", "INFO": ""}
    assert client.get("/api", params=fif, headers=as_user("alice")).status_code == 200
    for secret in ("", "wrong-secret-of-the-same-size", SECRET + "x", SECRET.upper()):
        assert client.get("/api", params=fif, headers=as_user("alice", secret)).status_code == 403, secret
    twice = as_user("alice") | {"X-Tileserver-Proxy-Secret": SECRET}
    assert client.get("/api", params=fif, headers=list(twice.items()) + [
        ("X-Tileserver-Proxy-Secret", "other")]).status_code == 403
    # Nor is its forwarded address believed.
    spoof = {"X-Forwarded-For": "192.0.2.7"}
    assert client.get("/status.json", headers=spoof | {"X-Tileserver-Proxy-Secret": SECRET}).status_code == 200
    assert client.get("/status.json", headers=spoof).status_code == 403


def test_access_file_needs_a_secret_and_a_strong_one(settings_for, tree, tmp_path):
    with pytest.raises(SettingError, match="needs proxy_secret_file"):
        settings_for(access_file=str(tree))
    weak = tmp_path / "weak"
    for text in ("short", "two words but long enough", ""):
        weak.write_text(text, encoding="utf-8")
        with pytest.raises(SettingError, match="proxy_secret_file"):
            settings_for(proxy_secret_file=str(weak))
    with pytest.raises(SettingError, match="cannot be read"):
        settings_for(proxy_secret_file=str(tmp_path / "missing"))


def test_rulebook_reload_keeps_the_last_good_rules(tree, caplog):
    book = access.RuleBook(tree)
    assert not book.rules.may_read("dave", "private/a.fits")
    tree.write_text(ACCESS.replace("private = alice", "private = alice, dave"), encoding="utf-8")
    assert book.reload() and book.rules.may_read("dave", "private/a.fits")
    tree.write_text("[folders]\nprivate = @nobody\n", encoding="utf-8")
    with caplog.at_level("ERROR", logger="tileserver"):
        assert not book.reload()
    assert book.rules.may_read("dave", "private/a.fits")  # still the last good rules
    assert "unknown group" in caplog.text and str(tree) in caplog.text


def test_custom_user_header(connect, tree):
    client = connect(access_file=str(tree), trusted_proxies=PROXY, user_header="X-Auth-Name")
    fif = {"FIF": "private/a.fits", "INFO": ""}
    assert client.get("/api", params=fif, headers={
        "X-Auth-Name": "alice", "X-Tileserver-Proxy-Secret": SECRET}).status_code == 200
    assert client.get("/api", params=fif, headers=as_user("alice")).status_code == 403


def test_listing_shows_only_what_the_user_may_open(connect, tree):
    client = connect(access_file=str(tree), trusted_proxies=PROXY)

    def names(user: str | None, path: str = "") -> set[str]:
        r = client.get("/list", params={"path": path}, headers=as_user(user))
        assert r.status_code == 200, r.text
        return {e["name"] for e in r.json()["entries"]}

    assert names(None) == {"public"}
    assert names("dave") == {"public", "shared"}
    assert names("bob") == {"public", "shared", "survey"}
    assert names("alice") == {"public", "shared", "survey", "private"}  # not top.fits: the root is nobody's
    assert names("bob", "survey") == {"s.fits"}
    assert names("alice", "survey") == {"raw", "s.fits"}
    assert names(None, "public") == {"p.fits"}  # door.fits leads into private/
    assert client.get("/list", params={"path": "private"}).status_code == 403
    assert client.get("/list", params={"path": "survey/raw"}, headers=as_user("bob")).status_code == 403


def test_a_folder_is_listable_on_the_way_to_a_granted_one(connect, tmp_path, data_dir):
    write_fits(data_dir / "a" / "b" / "c.fits", 1)
    write_fits(data_dir / "a" / "secret.fits", 2)
    rules = tmp_path / "rules.conf"
    rules.write_text("[folders]\na/b = carol\n", encoding="utf-8")
    client = connect(access_file=str(rules), trusted_proxies=PROXY)
    r = client.get("/list", params={"path": "a"}, headers=as_user("carol"))
    assert r.status_code == 200 and {e["name"] for e in r.json()["entries"]} == {"b"}
    assert client.get("/api", params={"FIF": "a/secret.fits", "INFO": ""}, headers=as_user("carol")).status_code == 403
    assert client.get("/api", params={"FIF": "a/b/c.fits", "INFO": ""}, headers=as_user("carol")).status_code == 200


def test_websocket_subscribe_is_checked(connect, tree):
    client = connect(access_file=str(tree), trusted_proxies=PROXY)
    with client.websocket_connect("/ws", headers=as_user("alice")) as alice, \
            client.websocket_connect("/ws", headers=as_user("bob")) as bob:
        assert alice.receive_json()["type"] == bob.receive_json()["type"] == "hello"
        alice.send_json({"type": "subscribe", "image": "private/a.fits"})
        while (message := alice.receive_json())["type"] != "ready":
            assert message["type"] == "progress", message
        bob.send_json({"type": "subscribe", "image": "private/a.fits"})  # the watch exists now: still checked
        message = bob.receive_json()
        assert message["type"] == "error" and message["kind"] == "forbidden", message


def test_off_by_default(connect, tree):
    client = connect(STRANGER)
    for fif in READERS:
        assert client.get("/api", params={"FIF": fif, "INFO": ""}).status_code == 200, fif
    assert client.get("/api", params={"FIF": "public/p.fits", "JTL": "0,0"}).headers["cache-control"].startswith(
        "public")


def test_forwarded_for_only_from_trusted_proxies(connect):
    """X-Forwarded-For names the client (the status pages check it) only when a trusted proxy sends it."""
    # Without access control the secret is optional: the address alone decides.
    proxied = connect(trusted_proxies=PROXY, admin_allow="192.0.2.7", proxy_secret_file="")
    assert proxied.get("/status.json", headers={"X-Forwarded-For": "192.0.2.7"}).status_code == 200
    assert proxied.get("/status.json", headers={"X-Forwarded-For": "192.0.2.8"}).status_code == 403
    spoofed = connect(STRANGER, trusted_proxies=PROXY, admin_allow="192.0.2.7", proxy_secret_file="")
    assert spoofed.get("/status.json", headers={"X-Forwarded-For": "192.0.2.7"}).status_code == 403


@pytest.mark.parametrize("text,message", [
    ("[folders]\npublic = @nobody\n", "unknown group"),
    ("[folders]\n../up = *\n", "inside the data folder"),
    ("[people]\nx = y\n", "unknown section"),
    ("[groups]\ng = a@b\n", "user names"),
    ("[folders]\npublic = al!ce, *x\n", "invalid reader"),
    ("not an ini file", "access file"),
])
def test_bad_access_files_stop_the_start(settings_for, tmp_path, secret_file, text, message):
    path = tmp_path / "bad.conf"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingError, match=message):
        settings_for(access_file=str(path), proxy_secret_file=str(secret_file))


def test_bad_access_settings(settings_for, tmp_path):
    with pytest.raises(SettingError, match="access_file"):
        settings_for(access_file=str(tmp_path / "missing.conf"))
    with pytest.raises(SettingError, match="trusted_proxies"):
        settings_for(trusted_proxies="10.0.0.1, proxy.example.org")
    with pytest.raises(SettingError, match="user_header"):
        settings_for(user_header="X Remote User")


@pytest.mark.parametrize("user,path,readable", [
    (None, "public/x", True), (None, "public", True), (None, "publicity/x", False), (None, "", False),
    ("bob", "survey/x", True), ("bob", "survey/raw/x", False), ("bob", "survey/rawer/x", True),
    ("alice", "survey/raw/deep/er/x", True), ("dave", "shared/x", True), (None, "shared/x", False),
    ("Alice", "private/x", False),  # names are case-sensitive, as the proxy's are
])
def test_rules_table(tree, user, path, readable):
    assert access.load_rules(tree).may_read(user, path) is readable
