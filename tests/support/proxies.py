"""Real nginx and Apache for the tests, configured from the shipped files in nginx/ and apache/.

Each proxy runs in the foreground as a child of the test (`daemon off`, `-DFOREGROUND`) on free loopback ports,
with its pid, logs, temporary and cache files in a fresh folder (nginx's main file is written by cluster mode's own
generator, tileserver.cluster.services.nginx_command). The shipped files are copied with a few exact
substitutions (ports, backend addresses, paths); a substitution that no longer matches fails the test, so the
configuration under test is always the one we ship.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tileserver.cluster.services import nginx_command

from support import ROOT
from support.servers import free_port, listening, stop_group

APACHE_MODULES = "/usr/lib/apache2/modules"
APACHE_MODULE_NAMES = ("mpm_event", "authz_core", "authn_core", "authn_file", "authz_user", "auth_basic", "alias",
                       "env", "headers", "reqtimeout", "proxy", "proxy_http", "proxy_wstunnel", "cache", "cache_disk",
                       "rewrite", "ssl", "socache_shmcb")
RUN_AS = "www-data"  # when the tests run as root (CI), the proxies' workers drop to this user, as in production
# What the shipped proxy configurations send as X-Tileserver-Proxy-Secret; backends that should believe the user
# they name get it in their proxy_secret_file (see secret_file).
PROXY_SECRET = "0123456789abcdef-test-proxy-secret"


def secret_file(folder: Path) -> Path:
    """A proxy_secret_file holding PROXY_SECRET, private to its owner as the manual says."""
    path = folder / "proxy-secret"
    path.write_text(PROXY_SECRET + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def render(source: Path, target: Path, replacements: dict[str, str]) -> Path:
    text = source.read_text(encoding="utf-8")
    for old, new in replacements.items():
        if old not in text:
            raise AssertionError(f"{source.relative_to(ROOT)} no longer contains {old!r}: "
                                 "update tests/support/proxies.py")
        text = text.replace(old, new)
    target.write_text(text, encoding="utf-8")
    return target


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


class Proxy:
    """One nginx or Apache process. `url` is its plain-HTTP site; `ports` names every port it listens on."""

    def __init__(self, name: str, command: list[str], prefix: Path, ports: dict[str, int]) -> None:
        self.name = name
        self.command = command
        self.prefix = prefix
        self.ports = ports
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"

    @property
    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in sorted(self.prefix.glob("*.log")))

    def start(self, timeout: float = 20.0) -> Proxy:
        with open(self.prefix / "console.log", "wb") as console:
            self.proc = subprocess.Popen(self.command, stdout=console, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.log
                self.stop()
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{log}")
            if all(listening(port) for port in self.ports.values()):
                return self
            time.sleep(0.05)
        log = self.log
        self.stop()
        raise RuntimeError(f"{self.name} did not start:\n{log}")

    def stop(self) -> None:
        stop_group(self.proc)
        shutil.rmtree(self.prefix, ignore_errors=True)


def _prefix(name: str) -> Path:
    """A folder the proxy's workers can use: under /tmp (pytest's own folders are private to their owner)."""
    prefix = Path(tempfile.mkdtemp(prefix=f"tileserver-{name}-"))
    prefix.chmod(0o755)
    return prefix


def _writable_by_workers(*folders: Path) -> None:
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(folder, RUN_AS, RUN_AS)


def _require(program: str) -> str:
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if not path:
        pytest.fail(f"{program} is not installed: run scripts/setup-tests.sh (apt-get install nginx apache2)")
    return path


def start_nginx(backends: list[int], multinode: bool = False, tls: bool = False, htpasswd: Path | None = None) -> Proxy:
    """nginx with upstream.conf (one backend) or upstream-multinode.conf (three), site.conf, and site-tls.conf;
    with `htpasswd`, the sites ask for a password (auth_basic, as the manual's access control section says)."""
    _require("nginx")
    src, prefix = ROOT / "nginx", _prefix("nginx")
    ports = {"http": free_port()}
    cache = {"/var/cache/nginx/tileserver": str(prefix / "cache")}
    if multinode:
        assert len(backends) == 3
        nodes = {f"server node{i + 1}.example.org:8009": f"server 127.0.0.1:{port}" for i, port in enumerate(backends)}
        upstream = render(src / "upstream-multinode.conf", prefix / "upstream.conf", {**cache, **nodes})
    else:
        [backend] = backends
        upstream = render(src / "upstream.conf", prefix / "upstream.conf", {
            **cache, "server 127.0.0.1:8009;": f"server 127.0.0.1:{backend};"})
    headers = render(src / "proxy-headers.conf", prefix / "proxy-headers.conf", {})
    secret = render(src / "proxy-secret.conf", prefix / "proxy-secret.conf", {"CHANGE-ME": PROXY_SECRET})
    locations = render(src / "locations.conf", prefix / "locations.conf", {
        "include snippets/tileserver-proxy-headers.conf;": f"include {headers};"})
    login = f'auth_basic "tileserver";\n    auth_basic_user_file {htpasswd};\n    ' if htpasswd else ""
    include = {"include snippets/tileserver-locations.conf;": f"{login}include {locations};"}
    sites = [render(src / "site.conf", prefix / "site.conf", {
        "listen 80;": f"listen 127.0.0.1:{ports['http']};", "    listen [::]:80;\n": "", **include})]
    if tls:
        ports.update(redirect=free_port(), https=free_port())
        cert, key = self_signed_certificate(prefix)
        sites.append(render(src / "site-tls.conf", prefix / "site-tls.conf", {
            "listen 80;": f"listen 127.0.0.1:{ports['redirect']};", "    listen [::]:80;\n": "",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{ports['https']} ssl http2;",
            "    listen [::]:443 ssl http2;\n": "",
            "/etc/letsencrypt/live/tiles.example.org/fullchain.pem": str(cert),
            "/etc/letsencrypt/live/tiles.example.org/privkey.pem": str(key), **include}))
    includes = "".join(f"    include {path};\n" for path in (secret, upstream, *sites))
    return Proxy("nginx", nginx_command(prefix, includes), prefix, ports).start()


def start_apache(backend: int, tls: bool = False, htpasswd: Path | None = None) -> Proxy:
    """Apache with tileserver-proxy.conf included by tileserver.conf, and by tileserver-tls.conf; with `htpasswd`,
    the sites ask for a password (AuthType Basic)."""
    apache = _require("apache2")
    src, prefix = ROOT / "apache", _prefix("apache")
    ports = {"http": free_port()}
    _writable_by_workers(prefix / "cache", prefix / "run", prefix / "lock")
    secret = render(src / "tileserver-proxy-secret.conf", prefix / "tileserver-proxy-secret.conf",
                    {"CHANGE-ME": PROXY_SECRET})
    proxy_part = render(src / "tileserver-proxy.conf", prefix / "tileserver-proxy.conf", {
        "/etc/apache2/conf-available/tileserver-proxy-secret.conf": str(secret),
        "127.0.0.1:8009": f"127.0.0.1:{backend}",
        "/var/cache/apache2/tileserver": str(prefix / "cache"),
        "/run/lock/apache2-tileserver-cache": str(prefix / "lock"),
    })
    login = (f'\n    <Location "/vis/">\n        AuthType Basic\n        AuthName tileserver\n'
             f'        AuthUserFile {htpasswd}\n        Require valid-user\n    </Location>') if htpasswd else ""
    include = {"/etc/apache2/conf-available/tileserver-proxy.conf": f"{proxy_part}{login}"}
    sites = [render(src / "tileserver.conf", prefix / "tileserver.conf", {
        "<VirtualHost *:80>": f"<VirtualHost *:{ports['http']}>", **include})]
    if tls:
        ports.update(redirect=free_port(), https=free_port())
        cert, key = self_signed_certificate(prefix)
        sites.append(render(src / "tileserver-tls.conf", prefix / "tileserver-tls.conf", {
            "<VirtualHost *:80>": f"<VirtualHost *:{ports['redirect']}>",
            "<VirtualHost *:443>": f"<VirtualHost *:{ports['https']}>",
            "/etc/letsencrypt/live/tiles.example.org/fullchain.pem": str(cert),
            "/etc/letsencrypt/live/tiles.example.org/privkey.pem": str(key), **include}))
    modules = "\n".join(f"LoadModule {name}_module {APACHE_MODULES}/mod_{name}.so" for name in APACHE_MODULE_NAMES)
    user = f"User {RUN_AS}\nGroup {RUN_AS}\n" if os.geteuid() == 0 else ""
    listen = "".join(f"Listen 127.0.0.1:{port}\n" for port in ports.values())
    includes = "".join(f"Include {site}\n" for site in sites)
    (prefix / "httpd.conf").write_text(f"""ServerRoot {prefix}
ServerName 127.0.0.1
PidFile {prefix}/apache.pid
DefaultRuntimeDir {prefix}/run
ErrorLog {prefix}/error.log
LogLevel warn
{modules}
{user}StartServers 1
ServerLimit 12
ThreadsPerChild 25
MaxRequestWorkers 300
SSLSessionCache shmcb:{prefix}/run/ssl_scache(512000)
LogFormat "%h \\"%r\\" %>s %b cache=%{{X-Cache}}o" tileserver
CustomLog {prefix}/access.log tileserver
{listen}{includes}""", encoding="utf-8")
    command = [apache, "-f", str(prefix / "httpd.conf"), "-DFOREGROUND"]
    return Proxy("apache", command, prefix, ports).start()
