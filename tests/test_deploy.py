"""The deployment examples (deploy/, nginx/, apache/) name real settings and options, and agree with each other.

The proxies run for real in test_proxy.py and test_multinode.py; the systemd unit, the Dockerfile and the
Kubernetes manifest cannot run here, so these tests read them and check every name and value they pass to tileserver.
"""

from __future__ import annotations

import json
import re
import shlex

import yaml

from tileserver import config
from tileserver.cli.main import build_parser

from support import ROOT

DEFAULTS = config.Settings()


def check_environment(env: dict[str, str]) -> dict[str, object]:
    """TILESERVER_* variables -> their checked values; an unknown name or a bad value fails."""
    values: dict[str, object] = {}
    for name, raw in env.items():
        if name.startswith(config.ENV_PREFIX):
            setting = config.SETTINGS_BY_NAME[name.removeprefix(config.ENV_PREFIX).lower()]
            values[setting.name] = config.parse_value(setting, raw)
    return values


def check_arguments(args: list[str]) -> dict[str, object]:
    """Command-line options -> the settings they set; an unknown option fails (argparse exits)."""
    parsed = build_parser().parse_args(args)
    assert parsed.images == []
    return {s.name: config.parse_value(s, getattr(parsed, s.name)) for s in config.SETTINGS
            if s.cli and getattr(parsed, s.name) is not None}


def test_systemd_unit() -> None:
    text = (ROOT / "deploy" / "systemd" / "tileserver.service").read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    env = dict(line.removeprefix("Environment=").split("=", 1) for line in lines if line.startswith("Environment="))
    values = check_environment(env)
    [exec_start] = [line.removeprefix("ExecStart=") for line in lines if line.startswith("ExecStart=")]
    program, *args = shlex.split(exec_start)
    assert program.endswith("/tileserver")
    assert check_arguments(args) == {"no_browser": True}
    assert (values["host"], values["port"], values["root_path"]) == ("127.0.0.1", 8009, "/vis")
    assert "CacheDirectory=tileserver" in lines and values["cache_dir"] == "/var/cache/tileserver"


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    text = re.sub(r"\\\n\s*", " ", text)  # continuation lines
    return [tuple(line.split(None, 1)) for line in text.splitlines()
            if line.strip() and not line.startswith("#")]


def test_dockerfile() -> None:
    steps = dockerfile_instructions()
    env = dict(item.split("=", 1) for arg, rest in steps if arg == "ENV" for item in shlex.split(rest))
    values = check_environment(env)
    assert values["host"] == "0.0.0.0" and values["no_browser"] is True
    for arg, rest in steps:
        if arg == "COPY":
            *sources, _ = rest.split()
            assert all((ROOT / source).exists() for source in sources), rest
    [entrypoint] = [json.loads(rest) for arg, rest in steps if arg == "ENTRYPOINT"]
    assert entrypoint == ["tileserver"]
    assert 'tileserver = "tileserver.cli:main"' in (ROOT / "pyproject.toml").read_text()
    assert [rest for arg, rest in steps if arg == "EXPOSE"] == [str(values["port"])]


def test_kubernetes_example() -> None:
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "tileserver.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["Deployment", "PodDisruptionBudget", "NetworkPolicy", "Service", "Ingress",
                                         "Ingress"]
    deployment, _, _, service, ingress, uploads = docs
    pod = deployment["spec"]["template"]
    [container] = pod["spec"]["containers"]
    options = check_arguments(container["args"])
    check_environment({e["name"]: e["value"] for e in container["env"]})
    root = options["root_path"]
    [port] = container["ports"]
    assert port["containerPort"] == options["port"]
    assert container["readinessProbe"]["httpGet"]["path"] == f"{root}/healthz"
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    annotations = ingress["metadata"]["annotations"]
    multinode = (ROOT / "nginx" / "upstream-multinode.conf").read_text()
    assert re.search(r"^\s*hash (\S+) consistent;", multinode, re.M).group(1) == "$arg_FIF"
    assert annotations["nginx.ingress.kubernetes.io/upstream-hash-by"] == "$arg_FIF"
    [path] = ingress["spec"]["rules"][0]["http"]["paths"]
    assert path["path"] == root and path["backend"]["service"]["name"] == service["metadata"]["name"]
    assert not any("rewrite-target" in key for key in annotations)  # the prefix reaches tileserver unchanged
    assert {p["path"] for p in uploads["spec"]["rules"][0]["http"]["paths"]} == {f"{root}/extra/regions",
                                                                              f"{root}/extra/votable"}


def test_proxy_configs_route_the_api_and_the_websocket() -> None:
    api, ws = f"/vis{DEFAULTS.api_path}", "/vis/ws"
    nginx = (ROOT / "nginx" / "locations.conf").read_text()
    assert f"location = {api} {{" in nginx and f"location = {ws} {{" in nginx
    apache = (ROOT / "apache" / "tileserver-proxy.conf").read_text()
    assert re.search(rf"^ProxyPass\s+{ws} ws://", apache, re.M)
    assert re.search(rf"^CacheEnable disk {api}$", apache, re.M)
    # The websocket's ProxyPass must come before the general one: Apache takes the first that matches.
    assert apache.index(f"ProxyPass        {ws}") < apache.index("ProxyPass        /vis/ ")
