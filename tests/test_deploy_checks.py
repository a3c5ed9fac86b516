"""The deployment files pass the real validators (offline), and hold what an operator relies on.

No Docker daemon, systemd as PID 1 or cluster runs the tests: hadolint lints the Dockerfile, kubernetes-validate
checks the manifest against the Kubernetes schemas it ships, and `systemd-analyze verify` loads the unit as
systemd would; the rest is read from the files here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml

from support import ROOT

DEPLOY = ROOT / "deploy"


def tool(name: str) -> str:
    """A validator installed with the test extras (next to this Python) or by apt."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is missing: run scripts/setup-tests.sh"
    return found


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_hadolint_passes_the_dockerfile() -> None:
    result = run(tool("hadolint"), "--no-color", str(DEPLOY / "docker" / "Dockerfile"))
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_kubernetes_validate_passes_the_manifest() -> None:
    result = run(tool("kubernetes-validate"), "--strict", "--quiet", str(DEPLOY / "kubernetes" / "tileserver.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    # verify checks that ExecStart's program exists: point it at this machine's tileserver, nothing else changed.
    text = (DEPLOY / "systemd" / "tileserver.service").read_text()
    assert "/opt/tileserver/bin/tileserver" in text
    unit = tmp_path / "tileserver.service"
    unit.write_text(text.replace("/opt/tileserver/bin/tileserver", tool("tileserver")))
    result = run(tool("systemd-analyze"), "verify", str(unit))
    # An unknown key or a bad value is only a warning to systemd: any output at all fails.
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr


def unit_lines() -> list[str]:
    text = (DEPLOY / "systemd" / "tileserver.service").read_text()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_unit_keeps_the_cache_private_and_reloads_with_hup() -> None:
    lines = unit_lines()
    assert {"UMask=0077", "CacheDirectoryMode=0700", "KillMode=mixed"} <= set(lines)
    assert "ExecReload=/bin/kill -HUP $MAINPID" in lines
    # The proxy secret comes from a root-only file through systemd's credentials, never from the unit itself.
    assert "LoadCredential=proxy-secret:/etc/tileserver/proxy-secret" in lines
    assert "Environment=TILESERVER_PROXY_SECRET_FILE=%d/proxy-secret" in lines


def manifest() -> dict[str, dict]:
    docs = yaml.safe_load_all((DEPLOY / "kubernetes" / "tileserver.yaml").read_text())
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def test_kubernetes_pods_pass_pod_security_restricted_and_stop_gently() -> None:
    objects = manifest()
    pod = objects["Deployment/tileserver"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container["securityContext"]
    assert context["capabilities"]["drop"] == ["ALL"] and context["allowPrivilegeEscalation"] is False
    assert container["startupProbe"]["httpGet"]["path"].endswith("/healthz")
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    sizes = sum(int(v["emptyDir"]["sizeLimit"].removesuffix("Gi")) for v in pod["volumes"] if "emptyDir" in v)
    requests, limits = container["resources"]["requests"], container["resources"]["limits"]
    assert int(requests["ephemeral-storage"].removesuffix("Gi")) >= sizes  # the emptyDirs are ephemeral storage
    assert "cpu" in limits  # the cgroup quota that thread_count follows


def test_kubernetes_disruption_budget_network_policy_and_scrape_config() -> None:
    objects = manifest()
    labels = objects["Deployment/tileserver"]["spec"]["template"]["metadata"]["labels"]
    budget = objects["PodDisruptionBudget/tileserver"]["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items() and budget["maxUnavailable"] == 1
    policy = objects["NetworkPolicy/tileserver"]["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items() and policy["policyTypes"] == ["Ingress"]
    [rule] = policy["ingress"]
    assert all("namespaceSelector" in peer and "podSelector" in peer for peer in rule["from"])  # no open door
    scrape = yaml.safe_load((DEPLOY / "kubernetes" / "prometheus-scrape.yml").read_text())
    [job] = scrape["scrape_configs"]
    annotations = objects["Deployment/tileserver"]["spec"]["template"]["metadata"]["annotations"]
    assert job["metrics_path"] == annotations["prometheus.io/path"] == "/vis/metrics"


def dockerfile() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "docker" / "Dockerfile").read_text())
    return [(line.split(None, 1)[0], line.split(None, 1)[1]) for line in text.splitlines()
            if line.strip() and not line.startswith("#")]


def test_dockerfile_caches_dependencies_runs_as_a_number_and_checks_health_in_exec_form() -> None:
    steps = dockerfile()
    copies = [rest for kind, rest in steps if kind == "COPY"]
    # The pinned dependencies are installed before any of the code is copied: a code change keeps that layer.
    assert copies[0] == "deploy/constraints.txt /tmp/constraints.txt"
    first_code = steps.index(("COPY", copies[1]))
    assert any(kind == "RUN" and "-r /tmp/constraints.txt" in rest for kind, rest in steps[:first_code])
    [user] = [rest for kind, rest in steps if kind == "USER"]
    assert re.fullmatch(r"\d+:\d+", user)
    [check] = [rest for kind, rest in steps if kind == "HEALTHCHECK"]
    assert re.search(r"CMD \[\"python\", ", check)
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {".git", "tests", "**/__pycache__"} <= set(ignored)
    for source in (c.split()[0] for c in copies):
        assert not any(source == pattern or source.startswith(pattern + "/") for pattern in ignored), source


def test_constraints_pin_every_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {re.split(r"==", line)[0].lower().replace("_", "-")
            for line in (DEPLOY / "constraints.txt").read_text().splitlines() if "==" in line}
    for requirement in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned in deploy/constraints.txt"


def test_distribution_name_is_ours_and_the_command_stays_tileserver() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # "tileserver" on the package index is an unrelated project: we publish under a name that was free.
    assert project["name"] == "tileserver-astro"
    assert list(project["scripts"]) == ["tileserver"]


def test_setup_script_leaves_the_machines_services_alone() -> None:
    script = (ROOT / "scripts" / "setup-tests.sh").read_text()
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"systemctl|service\s+\S+\s+stop|apache2ctl|nginx -s", code)


def test_proxy_body_limits_are_the_servers_own() -> None:
    from tileserver.overlays import regions, votables

    limits = {"/vis/extra/regions": regions.MAX_TEXT_BYTES, "/vis/extra/votable": votables.MAX_BYTES}
    nginx = (ROOT / "nginx" / "locations.conf").read_text()
    apache = (ROOT / "apache" / "tileserver-proxy.conf").read_text()
    for path, limit in limits.items():
        size = re.search(rf"location = {path} {{[^}}]*client_max_body_size (\d+)m;", nginx).group(1)
        assert int(size) * 2**20 == limit, path
        size = re.search(rf'<Location "{path}">\s*LimitRequestBody (\d+)', apache).group(1)
        assert int(size) == limit, path
    assert "client_max_body_size 16k;" in nginx and "\nLimitRequestBody 16384\n" in apache


def test_every_nginx_location_sets_the_proxy_headers() -> None:
    """proxy_set_header is all or nothing per location: each one includes the whole set (user header, secret)."""
    nginx = re.sub(r"#[^\n]*", "", (ROOT / "nginx" / "locations.conf").read_text())
    # Each location's own directives: from its brace to the next brace (a nested location or its end).
    blocks = [(m.group(1), re.match(r"[^{}]*", nginx[m.end():]).group(0))
              for m in re.finditer(r"location ([^{};]+)\{", nginx)]
    proxied = [name.strip() for name, body in blocks if "proxy_pass" in body]
    assert {"/vis/", "= /vis/api", "= /vis/ws", "= /vis/extra/regions", "= /vis/extra/votable"} <= set(proxied)
    for name, body in blocks:
        if "proxy_pass" in body:
            assert "include snippets/tileserver-proxy-headers.conf;" in body, name
            assert "proxy_set_header" not in body and "add_header" not in body, name
    headers = (ROOT / "nginx" / "proxy-headers.conf").read_text()
    assert "proxy_set_header X-Remote-User $remote_user;" in headers
    assert "proxy_set_header X-Tileserver-Proxy-Secret $tileserver_proxy_secret;" in headers


def cgroup(tmp_path: Path, v2: str | None = None, v1: tuple[str, str] | None = None) -> Path:
    if v2 is not None:
        (tmp_path / "cpu.max").write_text(v2 + "\n")
    if v1 is not None:
        (tmp_path / "cpu").mkdir()
        (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(v1[0] + "\n")
        (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(v1[1] + "\n")
    return tmp_path


def test_build_threads_follow_the_cgroup_cpu_quota(tmp_path: Path) -> None:
    import os

    from tileserver import config

    cpus = len(os.sched_getaffinity(0))
    cases = [  # (cgroup v2 cpu.max, cgroup v1 quota and period, CPUs expected)
        ("max 100000", None, cpus), ("100000 100000", None, 1), ("150000 100000", None, min(cpus, 2)),
        ("20000 100000", None, 1), (None, ("-1", "100000"), cpus), (None, ("100000", "100000"), 1),
        (None, None, cpus), ("garbage", None, cpus),
    ]
    for n, (v2, v1, expected) in enumerate(cases):
        folder = tmp_path / str(n)
        folder.mkdir()
        assert config.available_cpus(cgroup(folder, v2, v1)) == expected, (v2, v1)
    assert config.SETTINGS_BY_NAME["thread_count"].default == config.available_cpus()
