"""Who a request comes from, and which data sub-folders they may read (multi-user servers; off by default).

The reverse proxy authenticates users and names them in `user_header`; the header is believed only on connections
from `trusted_proxies`, whose X-Forwarded-For and X-Forwarded-Proto are applied too (web/middleware/proxy.py; the
ASGI server leaves them alone: that layer is the last one that still sees the proxy's own address). With
`access_file` set, that file says who reads what:

    [groups]
    survey = alice, bob

    [folders]
    # folder (relative to data_dir, / for all of it) = readers: user names, @group, + any authenticated user,
    # * anyone (anonymous users too)
    public = *
    survey = @survey, carol
    survey/raw = alice

The most specific folder listed above a path decides; a path under no listed folder is nobody's. A user may list a
folder they cannot read when a folder below it is theirs, so they can browse down to it.

An address proves little (every local account is loopback; every pod of a cluster network is in its range), so
with `proxy_secret_file` the proxy also proves itself with a shared secret (SECRET_HEADER) on every request; without
it, nothing the request says about its user or client is believed.

The rules are read once per server, by the process that starts the others (gunicorn's master, which forks the
workers: they inherit them), and re-read there on SIGHUP; a bad file then leaves the last good rules in force.
"""

from __future__ import annotations

import configparser
import ipaddress
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import comma_list
from .errors import SettingError

ANYONE = "*"
AUTHENTICATED = "+"
USER_KEY = "tileserver.user"  # the ASGI scope entry holding the authenticated user name (None: anonymous)
MAX_USER_LENGTH = 256
SECRET_HEADER = b"x-tileserver-proxy-secret"
MIN_SECRET_LENGTH = 16

log = logging.getLogger("tileserver")
_NAME = re.compile(r"[^\s,@*+#;]+")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Rules:
    folders: Mapping[str, frozenset[str]]  # normalised folder ("" for the data folder itself) -> readers
    groups: Mapping[str, frozenset[str]]

    def admits(self, readers: frozenset[str], user: str | None) -> bool:
        if ANYONE in readers:
            return True
        if user is None:
            return False
        # A reader entry names a user, or a group with @: a user literally called "@team" (a proxy passes any
        # name) is a user, never the group, and names that mean something else here match nothing.
        if user.startswith("@") or user in (ANYONE, AUTHENTICATED):
            return AUTHENTICATED in readers
        return (AUTHENTICATED in readers or user in readers
                or any(user in self.groups.get(r[1:], ()) for r in readers if r.startswith("@")))

    def may_read(self, user: str | None, relative: str) -> bool:
        path = normalise(relative)
        parts = path.split("/") if path else []
        for n in range(len(parts), -1, -1):
            readers = self.folders.get("/".join(parts[:n]))
            if readers is not None:
                return self.admits(readers, user)
        return False

    def may_enter(self, user: str | None, relative: str) -> bool:
        """May list the folder: may read it, or some folder below it."""
        folder = normalise(relative)
        prefix = folder + "/" if folder else ""
        return self.may_read(user, folder) or any(
            name.startswith(prefix) and name != folder and self.admits(readers, user)
            for name, readers in self.folders.items())


@dataclass(frozen=True)
class Grant:
    """The rules as they apply to one user: what datapath asks while resolving that user's paths."""

    rules: Rules
    user: str | None

    def may_read(self, relative: str) -> bool:
        return self.rules.may_read(self.user, relative)

    def may_enter(self, relative: str) -> bool:
        return self.rules.may_enter(self.user, relative)


def normalise(relative: str) -> str:
    return "/".join(p for p in relative.split("/") if p not in ("", "."))


class _CaseParser(configparser.ConfigParser):
    """User and folder names keep their case (ConfigParser lower-cases keys)."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def load_rules(path: Path) -> Rules:
    """Read an access file; any mistake in it is a SettingError naming the file and the line's key."""
    parser = _CaseParser(interpolation=None, delimiters=("=",), comment_prefixes=("#", ";"))
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except OSError as e:
        raise SettingError(f"setting access_file: {str(path)!r} cannot be read ({e.strerror})") from None
    except (configparser.Error, UnicodeDecodeError) as e:
        raise SettingError(f"access file {path}: {str(e).splitlines()[0]}") from None
    unknown = set(parser.sections()) - {"groups", "folders"}
    if unknown:
        raise SettingError(f"access file {path}: unknown section [{sorted(unknown)[0]}]; expected [groups], [folders]")
    groups = {}
    for name, value in parser.items("groups") if parser.has_section("groups") else ():
        members = _names(value)
        if not _NAME.fullmatch(name) or any(not _NAME.fullmatch(m) for m in members):
            raise SettingError(f"access file {path}: group {name!r} must list user names")
        groups[name] = frozenset(members)
    folders = {}
    for name, value in parser.items("folders") if parser.has_section("folders") else ():
        folder = normalise(name)
        if ".." in folder.split("/") or "\\" in folder:
            raise SettingError(f"access file {path}: folder {name!r} must stay inside the data folder")
        readers = _names(value)
        for reader in readers:
            if reader.startswith("@") and reader[1:] not in groups:
                raise SettingError(f"access file {path}: folder {name!r} names an unknown group {reader!r}")
            if reader not in (ANYONE, AUTHENTICATED) and not _NAME.fullmatch(reader.removeprefix("@")):
                raise SettingError(f"access file {path}: folder {name!r} has an invalid reader {reader!r}")
        folders[folder] = frozenset(readers)
    return Rules(folders, groups)


class RuleBook:
    """The access rules in force for one access file, shared by everything in the process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rules = load_rules(path)  # a broken file at start-up stops the start

    def reload(self) -> bool:
        """Re-read the file; on any mistake, log it and keep the rules in force (a typo must not stop a server)."""
        try:
            rules = load_rules(self.path)
        except SettingError as e:
            log.error("access rules not reloaded, the previous ones stay in force: %s", e)
            return False
        self.rules = rules  # one reference swapped: a request sees the old rules or the new, never a mix
        log.info("access rules reloaded from %s: %d folders, %d groups", self.path, len(rules.folders),
                 len(rules.groups))
        return True


_books: dict[Path, RuleBook] = {}


def rulebook(path: Path) -> RuleBook:
    """This process's rules for `path`: read on first use, then the same object, inherited by forked workers."""
    if path not in _books:
        _books[path] = RuleBook(path)
    return _books[path]


def reload_all() -> None:
    for book in list(_books.values()):
        book.reload()


def read_secret(path: str) -> bytes:
    """The proxy secret held in `path` (b"" for none); a missing, unreadable or weak one is a SettingError."""
    if not path:
        return b""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        raise SettingError(f"setting proxy_secret_file: {path!r} cannot be read") from None
    if len(text) < MIN_SECRET_LENGTH or not text.isascii() or not text.isprintable() or " " in text:
        raise SettingError(f"setting proxy_secret_file: {path!r} must hold one word of at least "
                           f"{MIN_SECRET_LENGTH} printable characters (e.g. from openssl rand -hex 32)")
    return text.encode()


def _names(value: str) -> list[str]:
    return [v for v in re.split(r"[\s,]+", value.strip()) if v]


def parse_networks(text: str, name: str = "trusted_proxies") -> tuple[Network, ...]:
    out = []
    for item in comma_list(text):
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError as e:
            raise SettingError(f"setting {name}: {e}") from None
    return tuple(out)


def is_trusted(host: str | None, networks: tuple[Network, ...]) -> bool:
    if not networks:
        return False
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return any(address in net for net in networks)


def user_of(scope: Mapping[str, Any]) -> str | None:
    """The user a trusted proxy authenticated for this request; None for anonymous (or access control off)."""
    return scope.get(USER_KEY)
