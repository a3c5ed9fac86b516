#!/usr/bin/env bash
# Install everything the test suite needs on a Debian machine that has Python, Node and apt:
# the package with its test extras (cluster mode's Python side: boto3, Dask, redis, SeaweedFS), and Debian's
# chromium, nginx, apache2, wrk and redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=()
for pkg in chromium nginx apache2 wrk redis-server; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The packaged services must not hold the ports or run as daemons: tests start their own instances.
for svc in nginx apache2 redis-server; do
  $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
done

python3 -m pip install -q -e ".[test]"

# VisiOmatic's own web client, which tests/test_visiomatic_client.py runs against our server: fetched from PyPI into
# a git-ignored folder, never installed (its dependencies are heavy) and never committed.
VISIOMATIC_WHEEL=.cache/visiomatic/visiomatic-3.0.7-py3-none-any.whl
if [ ! -f "$VISIOMATIC_WHEEL" ]; then
  python3 -m pip download -q --no-deps --only-binary=:all: visiomatic==3.0.7 -d .cache/visiomatic
fi
