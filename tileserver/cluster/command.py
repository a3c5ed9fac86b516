"""`tileserver cluster up|down`: the command line over cluster.launcher."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import SettingError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tileserver cluster", description="Run a whole cluster on this machine, on "
                                     "loopback: redis-server, an S3 store (SeaweedFS), a Dask scheduler and workers, "
                                     "tileserver nodes and nginx in front.")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start it all, print one JSON line describing it, and return")
    up.add_argument("--data-dir", required=True, help="folder of the images (shared by every node and worker)")
    up.add_argument("--nodes", type=int, default=3, help="tileserver nodes (default 3)")
    up.add_argument("--workers", type=int, default=2, help="Dask workers (default 2)")
    up.add_argument("--port", type=int, default=0, help="nginx's port on 127.0.0.1 (default: a free one)")
    up.add_argument("--state-dir", default=".tileserver-cluster", help="folder of its data, logs and state "
                    "(default ./.tileserver-cluster)")
    down = sub.add_parser("down", help="stop the cluster started from --state-dir")
    down.add_argument("--state-dir", default=".tileserver-cluster", help="the folder given to 'cluster up'")
    return parser


def main(argv: Sequence[str]) -> int:
    from . import launcher

    args = build_parser().parse_args(list(argv))
    state = Path(args.state_dir).expanduser().resolve()
    try:
        if args.command == "up":
            if not 1 <= args.nodes <= 64 or not 1 <= args.workers <= 256 or not 0 <= args.port <= 65535:
                raise SettingError("--nodes must be 1 to 64, --workers 1 to 256, --port 0 to 65535")
            cluster = launcher.up(args.data_dir, state, args.nodes, args.workers, args.port)
            print(json.dumps(cluster.public()), flush=True)
            return 0
        count = launcher.down(state)
        print(f"tileserver: stopped {count} process(es) of the cluster in {state}", file=sys.stderr)
        return 0
    except SettingError as e:
        print(f"tileserver: error: {e}", file=sys.stderr)
        return 2
