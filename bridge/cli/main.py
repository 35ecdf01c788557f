"""The `linkdesk` command: `serve`, and `lab provision | up | down | status`.

Nothing here imports Twisted at module load: `serve` installs the asyncio
reactor first, before anything can import `twisted.internet.reactor`.
"""

from __future__ import annotations

import argparse
import json
import sys

from linkdesk.bridge.app.config import ConfigError, load_config
from linkdesk.bridge.cli import lab_postgres
from linkdesk.bridge.cli import orders as orders_cli
from linkdesk.bridge.cli import store as store_cli
from linkdesk.bridge.lab import prometheus
from linkdesk.bridge.lab.layout import LabError, default_paths, lab_base, load_specs
from linkdesk.bridge.store.backup import BackupError
from linkdesk.bridge.store.migrations import StoreVersionError
from linkdesk.bridge.store.sql import StoreError
from linkdesk.dialplan.keys import KitError
from linkdesk.dialplan.version import linkdesk_version


def _say(message: str) -> None:
    print(message, flush=True)


def _lab(args: argparse.Namespace) -> int:
    from linkdesk.bridge.lab import pbx, root

    if args.lab_command == "postgres":
        return lab_postgres.run(args)
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


def _render(args: argparse.Namespace) -> int:
    """`linkdesk site render` (also `dialplan render`): the whole kit for one PBX."""
    from pathlib import Path

    from linkdesk.dialplan.kit import add_includes, skipped, write_kit, write_whisper_prompts
    from linkdesk.dialplan.site_check import unknown_names

    plan = _site_plan(args)
    out = Path(args.out)
    unknown = unknown_names(plan, out)
    if unknown:
        raise KitError("; ".join(unknown) + " (nothing written)")
    files = write_kit(plan, out, args.layout)
    for item in files:
        _say(f"wrote {out / item.name}")
    for note in skipped(plan):
        _say(f"skipped {note}")
    try:
        written, kept = write_whisper_prompts(plan, Path(args.sounds_root))
    except KitError as exc:
        _say(f"skipped the whisper's prompts: {exc}")
    else:
        for path in written:
            _say(f"wrote {path}")
        for path in kept:
            _say(f"kept {path} (already there: the site's own, or rendered before)")
    _say("each goes into the site's files with:")
    for item in files:
        _say(f"  {item.include_line:42} in {item.include_from} ({'at the top' if item.position == 'top' else 'at the end'})")
    if args.add_includes:
        for path in add_includes(files, out):
            _say(f"added the #include line to {path}")
    return 0


def _check(args: argparse.Namespace) -> int:
    """`linkdesk site check --etc DIR`: what a site's Asterisk config lacks for linkdesk."""
    from pathlib import Path

    from linkdesk.dialplan.site_check import check_site

    findings = check_site(_site_plan(args), Path(args.etc), args.layout)
    for finding in findings:
        _say(str(finding))
    problems = [f for f in findings if f.is_problem]
    notes = len(findings) - len(problems)
    _say(f"{len(problems)} problem(s), {notes} note(s)" if problems
         else f"{args.etc}: ready for linkdesk (PBX {args.pbx}){f'; {notes} note(s)' if notes else ''}")
    return 1 if problems else 0


def _site_plan(args: argparse.Namespace):
    if not (args.lab or args.config):
        raise LabError("give --config FILE (with [pbx.NAME.dialplan] tables) or --lab")
    config = load_config(args.config, base=lab_base() if args.lab else None, logins=False)
    plan = config.dialplans.get(args.pbx)
    if plan is None:
        known = ", ".join(sorted(config.dialplans)) or "none"
        raise ConfigError(f"pbx.{args.pbx}.dialplan: no such table (PBXs with one: {known})")
    missing = sorted({to for to, _ in config.plans[args.pbx].targets} - set(config.plans))
    if missing:
        raise ConfigError(f"pbx.{args.pbx}.transfer: names platform(s) {', '.join(missing)}, "
                          "but the config has no [pbx.NAME] for them")
    return plan


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


def _systemd_unit(args: argparse.Namespace) -> int:
    """`linkdesk systemd-unit`: the shipped unit, ExecStart naming this linkdesk."""
    from linkdesk.bridge.app.systemd_unit import unit

    print(unit(args.exec, args.config), end="")
    return 0


def _systemd_unit_parser(commands) -> None:
    command = commands.add_parser("systemd-unit", help="print the systemd unit (Type=notify, watchdog, hardening)")
    command.add_argument("--exec", help="the linkdesk to run (default: the one beside this Python)")
    command.add_argument("--config", default="/etc/linkdesk/linkdesk.toml", help="the config file it serves")
    command.set_defaults(func=_systemd_unit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linkdesk", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"linkdesk {linkdesk_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run linkdesk: AMI to both PBXs, HTTP API")
    serve.add_argument("--config", help="TOML config file")
    serve.add_argument("--lab", action="store_true", help="connect to the lab PBXs (from `lab status`)")
    serve.add_argument("--http-port", type=int, help="HTTP port (default 8573)")
    serve.set_defaults(func=_serve)

    demo = commands.add_parser("demo", help="a citizen's call handed from 110 to 12345 on the lab, told as a timeline")
    demo.add_argument("--http-port", type=int, default=8573)
    demo.set_defaults(func=_demo)

    site = commands.add_parser("site", help="the Asterisk kit a site needs: render it, check a site's config")
    site_commands = site.add_subparsers(dest="site_command", required=True)
    _site_arguments(site_commands.add_parser("render", help="write the kit for one PBX"), render=True)
    _site_arguments(site_commands.add_parser("check", help="report clashes and gaps in a site's config"))
    dialplan = commands.add_parser("dialplan", help="the same as `site render`, by its old name")
    _site_arguments(dialplan.add_subparsers(dest="dialplan_command", required=True).add_parser(
        "render", help="write the kit for one PBX"), render=True)

    orders_cli.add_parser(commands)
    store_cli.add_parser(commands)
    _systemd_unit_parser(commands)

    lab = commands.add_parser("lab", help="the two-PBX Asterisk lab")
    lab_commands = lab.add_subparsers(dest="lab_command", required=True)
    provision = lab_commands.add_parser("provision", help="build the sid root with Asterisk, or reuse it")
    provision.add_argument("--rebuild", action="store_true", help="rebuild even a healthy root")
    lab_commands.add_parser("up", help="start both PBXs; returns when both are fully booted")
    lab_commands.add_parser("down", help="stop what `up` started, by pid")
    status = lab_commands.add_parser("status", help="how to reach each PBX, and whether it runs")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    lab_postgres.add_parser(lab_commands)
    lab.set_defaults(func=_lab)
    return parser


def _site_arguments(command: argparse.ArgumentParser, render: bool = False) -> None:
    command.add_argument("--pbx", required=True, help="which PBX (e.g. 110)")
    command.add_argument("--config", help="TOML config with [pbx.NAME.dialplan] tables")
    command.add_argument("--lab", action="store_true", help="for the lab PBXs")
    command.add_argument("--layout", choices=("plain", "freepbx"), default="plain",
                         help="plain Asterisk (#include lines) or FreePBX (*_custom.conf files)")
    if render:
        command.add_argument("--out", default=".", help="folder to write into (the PBX's astetcdir)")
        command.add_argument("--sounds-root", default="/", help="write the whisper's prompts (into the "
                             "dialplan table's sounds_dir) under this folder instead of / (a staging copy)")
        command.add_argument("--add-includes", action="store_true",
                             help="also add the #include lines to the site's files where missing")
        command.set_defaults(func=_render)
    else:
        command.add_argument("--etc", required=True, help="the site's Asterisk config folder (e.g. /etc/asterisk)")
        command.set_defaults(func=_check)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (LabError, ConfigError, KitError, StoreVersionError, BackupError, StoreError) as exc:
        print(f"linkdesk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

