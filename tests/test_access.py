"""Access control for multi-user servers: a trusted proxy names the user, an access file says who reads which data
sub-folder. Checked on every path that reaches a file or folder (API, caches included, listing, progress,
websocket), in-process and behind a real nginx doing basic auth."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from astropy.io import fits

from tileserver import access
from tileserver.errors import SettingError

PROXY, STRANGER = "10.0.0.1", "10.0.0.2"

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
def connect(client_for: Any) -> Any:
    """connect(address, **settings): an in-process client whose requests come from `address`."""
    return lambda address=PROXY, **overrides: client_for(address=address, **overrides)


def as_user(user: str | None) -> dict[str, str]:
    return {"X-Remote-User": user} if user else {}


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
    assert client.get("/api", params={"FIF": "public/p.fits", "JTL": "0,0"}).headers["cache-control"].startswith(
        "private")  # behind a shared proxy cache, even public tiles are not shared: it cannot tell them apart


def test_header_only_from_trusted_proxies(connect, tree):
    direct = connect(STRANGER, access_file=str(tree), trusted_proxies=PROXY)
    r = direct.get("/api", params={"FIF": "private/a.fits", "INFO": ""}, headers=as_user("alice"))
    assert r.status_code == 403  # anyone can send the header: only the proxy's is believed
    assert direct.get("/api", params={"FIF": "public/p.fits", "INFO": ""}).status_code == 200
    proxied = connect(access_file=str(tree), trusted_proxies=f"192.168.0.0/16, {PROXY}/32")
    twice = [("X-Remote-User", "bob"), ("X-Remote-User", "alice")]  # a client's own header next to the proxy's
    assert proxied.get("/api", params={"FIF": "private/a.fits", "INFO": ""}, headers=twice).status_code == 403
    for bad in ("", "   ", "a" * 300, "alice\x7f"):
        assert proxied.get("/api", params={"FIF": "shared/x.fits", "INFO": ""},
                           headers={"X-Remote-User": bad}).status_code == 403, bad


def test_custom_user_header(connect, tree):
    client = connect(access_file=str(tree), trusted_proxies=PROXY, user_header="X-Auth-Name")
    fif = {"FIF": "private/a.fits", "INFO": ""}
    assert client.get("/api", params=fif, headers={"X-Auth-Name": "alice"}).status_code == 200
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
    proxied = connect(trusted_proxies=PROXY, admin_allow="192.0.2.7")
    assert proxied.get("/status.json", headers={"X-Forwarded-For": "192.0.2.7"}).status_code == 200
    assert proxied.get("/status.json", headers={"X-Forwarded-For": "192.0.2.8"}).status_code == 403
    spoofed = connect(STRANGER, trusted_proxies=PROXY, admin_allow="192.0.2.7")
    assert spoofed.get("/status.json", headers={"X-Forwarded-For": "192.0.2.7"}).status_code == 403


@pytest.mark.parametrize("text,message", [
    ("[folders]\npublic = @nobody\n", "unknown group"),
    ("[folders]\n../up = *\n", "inside the data folder"),
    ("[people]\nx = y\n", "unknown section"),
    ("[groups]\ng = a@b\n", "user names"),
    ("[folders]\npublic = al!ce, *x\n", "invalid reader"),
    ("not an ini file", "access file"),
])
def test_bad_access_files_stop_the_start(settings_for, tmp_path, text, message):
    path = tmp_path / "bad.conf"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingError, match=message):
        settings_for(access_file=str(path))


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


# -- behind a real nginx doing basic auth ------------------------------------------------------------------------

NGINX_SITE = """
{user}
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log notice;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    upstream tileserver {{ server 127.0.0.1:{backend}; }}
    # Anonymous site: whatever user header a client sends is replaced by an empty one (nginx then drops it).
    server {{
        listen 127.0.0.1:{public};
        location / {{
            proxy_pass http://tileserver;
            proxy_bind 127.0.0.2;
            proxy_set_header X-Remote-User "";
        }}
    }}
    # Login site: basic auth, and the authenticated name passed on.
    server {{
        listen 127.0.0.1:{login};
        location / {{
            auth_basic "tileserver";
            auth_basic_user_file {prefix}/htpasswd;
            proxy_pass http://tileserver;
            proxy_bind 127.0.0.2;
            proxy_set_header X-Remote-User $remote_user;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


@pytest.mark.proxy
def test_behind_nginx_with_basic_auth(live_server, tree):
    from conftest import free_port
    from proxies import RUN_AS, Proxy, _prefix, _require

    backend = live_server("--access-file", str(tree), "--trusted-proxies", "127.0.0.2")
    prefix = _prefix("nginx-auth")
    (prefix / "tmp").mkdir()
    lines = []
    for user, password in (("alice", "wonderland"), ("bob", "builder")):
        digest = subprocess.run(["openssl", "passwd", "-apr1", password], check=True, capture_output=True,
                                text=True).stdout.strip()
        lines.append(f"{user}:{digest}\n")
    (prefix / "htpasswd").write_text("".join(lines), encoding="utf-8")
    os.chmod(prefix / "htpasswd", 0o644)
    ports = {"http": free_port(), "login": free_port()}
    (prefix / "nginx.conf").write_text(NGINX_SITE.format(
        user=f"user {RUN_AS};" if os.geteuid() == 0 else "", prefix=prefix, backend=backend.port,
        public=ports["http"], login=ports["login"]), encoding="utf-8")
    nginx = _require("nginx")
    proxy = Proxy("nginx", [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e",
                            str(prefix / "error.log")], prefix, ports).start()
    try:
        public, login = proxy.url, f"http://127.0.0.1:{ports['login']}"

        def status(base: str, fif: str, auth: tuple[str, str] | None = None, **headers: str) -> int:
            return httpx.get(base + "/api", params={"FIF": fif, "INFO": ""}, auth=auth, headers=headers,
                             timeout=30).status_code

        assert status(public, "public/p.fits") == 200
        assert status(public, "private/a.fits") == 403
        assert status(public, "private/a.fits", **{"X-Remote-User": "alice"}) == 403  # spoofing is stripped
        assert status(login, "private/a.fits") == 401  # nginx asks for a password
        assert status(login, "private/a.fits", ("alice", "wrong")) == 401
        assert status(login, "private/a.fits", ("alice", "wonderland")) == 200
        assert status(login, "survey/raw/r.fits", ("bob", "builder")) == 403
        assert status(login, "survey/s.fits", ("bob", "builder")) == 200
        # The server itself, reached directly from another loopback address, believes no header.
        assert status(backend.url, "private/a.fits", **{"X-Remote-User": "alice"}) == 403
        listing = httpx.get(login + "/list", auth=("bob", "builder"), timeout=30).json()
        assert {e["name"] for e in listing["entries"]} == {"public", "shared", "survey"}
    finally:
        proxy.stop()
