"""The `linkdesk` command: `serve`, and `lab provision | up | down | status`.

Nothing here imports Twisted at module load: `serve` installs the asyncio
reactor first, before anything can import `twisted.internet.reactor`.
"""

from __future__ import annotations

import argparse
import json
import sys

from linkdesk.bridge.app.config import ConfigError, load_config
from linkdesk.bridge.cli import orders as orders_cli
from linkdesk.bridge.lab import prometheus
from linkdesk.bridge.lab.layout import LabError, default_paths, lab_base, load_specs


def _say(message: str) -> None:
    print(message, flush=True)


def _lab(args: argparse.Namespace) -> int:
    from linkdesk.bridge.lab import pbx, root

    paths = default_paths()
    specs = load_specs(paths)
    if args.lab_command == "provision":
        pbx.require_root_user()
        root.provision(paths, _say, rebuild=args.rebuild)
        prometheus.provision(paths, _say)
    elif args.lab_command == "up":
        pbx.up(paths, specs, _say)
    elif args.lab_command == "down":
        pbx.down(paths, _say)
    else:
        report = pbx.status(paths, specs)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            for name, info in report.items():
                state = f"up (pid {info['pid']}, AMI {'ok' if info['ami_ok'] else 'not answering'})" \
                    if info["running"] else "down"
                _say(f"PBX {name}: {state}; AMI {info['ami']['host']}:{info['ami']['port']}, "
                     f"SIP {info['sip']['host']}:{info['sip']['port']}")
    return 0


def _dialplan(args: argparse.Namespace) -> int:
    from pathlib import Path

    from linkdesk.dialplan.render import write_files

    if not (args.lab or args.config):
        raise LabError("give --config FILE (with [pbx.NAME.dialplan] tables) or --lab")
    config = load_config(args.config, base=lab_base() if args.lab else None, logins=False)
    plan = config.dialplans.get(args.pbx)
    if plan is None:
        known = ", ".join(sorted(config.dialplans)) or "none"
        print(f"linkdesk: no [pbx.{args.pbx}.dialplan] settings (PBXs with them: {known})", file=sys.stderr)
        return 2
    for path in write_files(plan, Path(args.out)):
        _say(f"wrote {path}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from linkdesk.bridge.lab.pbx import require_root_user

    require_root_user()
    from linkdesk.bridge.cli.demo import run

    return run(args.http_port)


def _serve(args: argparse.Namespace) -> int:
    from linkdesk.bridge.app.reactor import install_asyncio_reactor

    install_asyncio_reactor()
    from linkdesk.bridge.app.serve import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linkdesk", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run linkdesk: AMI to both PBXs, HTTP API")
    serve.add_argument("--config", help="TOML config file")
    serve.add_argument("--lab", action="store_true", help="connect to the lab PBXs (from `lab status`)")
    serve.add_argument("--http-port", type=int, help="HTTP port (default 8573)")
    serve.set_defaults(func=_serve)

    demo = commands.add_parser("demo", help="a citizen's call handed from 110 to 12345 on the lab, told as a timeline")
    demo.add_argument("--http-port", type=int, default=8573)
    demo.set_defaults(func=_demo)

    dialplan = commands.add_parser("dialplan", help="the Asterisk files linkdesk needs")
    dialplan_commands = dialplan.add_subparsers(dest="dialplan_command", required=True)
    render = dialplan_commands.add_parser("render", help="write linkdesk-extensions.conf, linkdesk-features.conf and linkdesk-confbridge.conf")
    render.add_argument("--pbx", required=True, help="which PBX (e.g. 110)")
    render.add_argument("--out", default=".", help="folder to write into (the PBX's astetcdir)")
    render.add_argument("--config", help="TOML config with [pbx.NAME.dialplan] tables")
    render.add_argument("--lab", action="store_true", help="render for the lab PBXs")
    dialplan.set_defaults(func=_dialplan)

    orders_cli.add_parser(commands)

    lab = commands.add_parser("lab", help="the two-PBX Asterisk lab")
    lab_commands = lab.add_subparsers(dest="lab_command", required=True)
    provision = lab_commands.add_parser("provision", help="build the sid root with Asterisk, or reuse it")
    provision.add_argument("--rebuild", action="store_true", help="rebuild even a healthy root")
    lab_commands.add_parser("up", help="start both PBXs; returns when both are fully booted")
    lab_commands.add_parser("down", help="stop what `up` started, by pid")
    status = lab_commands.add_parser("status", help="how to reach each PBX, and whether it runs")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    lab.set_defaults(func=_lab)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (LabError, ConfigError) as exc:
        print(f"linkdesk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

