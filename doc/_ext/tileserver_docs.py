"""Sphinx extension of the manual: object types for what the manual documents, and the settings reference.

Object types (each a directive and a cross-reference role of the same name, listed in objects.inv, which is how
tests/test_docs.py checks that nothing is left undocumented):

- ``.. setting:: name``: a setting of tileserver.config.SETTINGS (written by ``.. settings-reference::``);
- ``.. param:: NAME=form``: an /api query parameter; the name is the part before "=";
- ``.. endpoint:: METHOD /path``: an HTTP route or websocket; the name is the path;
- ``.. status:: 422 Unprocessable Content``: an HTTP status the server answers with; the name is the code.

The manual is nitpicky, so a role naming something that is not documented (``:setting:`no_such```) is a warning,
and the build runs with warnings as errors.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

from tileserver import config

SECTION_TITLES = {
    "server": "Server",
    "image": "Image display defaults",
    "paths": "Paths and limits",
    "engine": "Engine",
    "cache": "Caches",
    "websocket": "Websocket",
    "access": "Access control",
}

# Defaults computed on the machine that runs the server: show the rule, not the doc builder's value.
MACHINE_DEFAULTS = {
    "thread_count": "the number of CPUs",
    "cache_dir": "the user cache folder, ``~/.cache/tileserver`` on Linux",
}


def _signature(name: str, display: str, signode: addnodes.desc_signature) -> str:
    signode += addnodes.desc_name(display, display)
    return name


def parse_param(env: BuildEnvironment, sig: str, signode: addnodes.desc_signature) -> str:
    return _signature(sig.split("=", 1)[0].strip(), sig, signode)


def parse_endpoint(env: BuildEnvironment, sig: str, signode: addnodes.desc_signature) -> str:
    method, _, path = sig.strip().partition(" ")
    return _signature(path.strip() or method, sig, signode)


def parse_status(env: BuildEnvironment, sig: str, signode: addnodes.desc_signature) -> str:
    return _signature(sig.split()[0], sig, signode)


def _bytes(value: int) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= size and value % size == 0:
            return f"{value // size} {unit}"
    return ""


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "``true``" if value else "``false``"
    return f"``{value}``" if value != "" else "*(empty)*"


def _number(x: float, in_bytes: bool) -> str:
    if not float(x).is_integer():
        return f"{x:g}"
    x = int(x)
    text = f"{x:,}".replace(",", "\u2009") if x >= 10**5 else str(x)  # thin-space thousands
    if in_bytes and _bytes(x):
        text += f" ({_bytes(x)})"
    elif x >= 2**20 and x & (x - 1) == 0:
        text += f" (2\\ :sup:`{x.bit_length() - 1}`)"  # rST: the escaped space joins 2 and its exponent
    return text


def default_text(setting: config.Setting) -> str:
    if setting.name in MACHINE_DEFAULTS:
        return MACHINE_DEFAULTS[setting.name]
    if setting.type in (int, float) and not isinstance(setting.default, bool):
        return _number(setting.default, "bytes" in setting.name)
    return _literal(setting.default)


def range_text(setting: config.Setting) -> str:
    in_bytes = "bytes" in setting.name
    if setting.min is not None and setting.max is not None:
        return f"{_number(setting.min, in_bytes)} to {_number(setting.max, in_bytes)}"
    if setting.min is not None:
        return f"at least {_number(setting.min, in_bytes)}"
    return ""


def setting_rst(setting: config.Setting) -> list[str]:
    kind = {bool: "boolean", int: "integer", float: "number", str: "text"}[setting.type]
    if setting.type is bool and not setting.name.startswith("no_"):
        flags = f"``{setting.flag}``, ``--no-{setting.flag[2:]}``"
    elif setting.short:
        flags = f"``{setting.short}``, ``{setting.flag}``"
    else:
        flags = f"``{setting.flag}``"
    facts = [f"*{kind}*", f"default {default_text(setting)}"]
    if range_text(setting):
        facts.append(range_text(setting))
    facts += [flags if setting.cli else "no command-line flag", f"``{setting.env}``", f"``[{setting.section}]``"]
    return [f".. setting:: {setting.name}", "", f"   {setting.help}", "", "   .. rst-class:: setting-facts", "",
            "   " + " · ".join(facts), ""]


class SettingsReference(SphinxDirective):
    """The reference of every setting, section by section, straight from the settings table."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        lines: list[str] = []
        for section in config.SECTIONS:
            title = SECTION_TITLES.get(section, section.capitalize())
            lines += [title, "-" * len(title), ""]
            for setting in config.SETTINGS:
                if setting.section == section:
                    lines += setting_rst(setting)
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="tileserver.config.SETTINGS"), container)
        return container.children


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_object_type("setting", "setting", indextemplate="pair: %s; setting")
    app.add_object_type("param", "param", indextemplate="pair: %s; API parameter", parse_node=parse_param)
    app.add_object_type("endpoint", "endpoint", indextemplate="pair: %s; endpoint", parse_node=parse_endpoint)
    app.add_object_type("status", "status", indextemplate="pair: %s; HTTP status", parse_node=parse_status)
    app.add_directive("settings-reference", SettingsReference)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
