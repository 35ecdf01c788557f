"""Start, watch and stop the two lab PBXs, by pid, inside the sid root.

`up` returns only when both PBXs have fully booted and the `linkdesk` AMI
user can log in; if anything fails on the way, what was started is stopped.
`down` stops exactly the processes `up` recorded, checking each pid's start
time so that a reused pid is never signalled.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time

from linkdesk.bridge.lab.agi_entry import install_agi_entry
from linkdesk.bridge.lab.certs import make_certificate
from linkdesk.bridge.lab.layout import AMI_TLS_NAME, LabError, Paths, PbxSpec, lab_dialplans
from linkdesk.dialplan.kit import add_includes, write_kit, write_whisper_prompts
from linkdesk.bridge.lab.root import Log, root_problem
from linkdesk.bridge.lab.procs import ProcessRecord, processes_in_root, record_of, stop_process

BOOT_TIMEOUT = 60.0
VAR_DIRS = ("run", "spool", "log", "db", "cache", "keys")


def state_file(paths: Paths):
    return paths.run_dir / "lab.json"


def load_state(paths: Paths) -> dict[str, ProcessRecord]:
    try:
        raw = json.loads(state_file(paths).read_text())
    except (OSError, ValueError):
        return {}
    return {name: ProcessRecord(**rec) for name, rec in raw.items()}


def _save_state(paths: Paths, records: dict[str, ProcessRecord]) -> None:
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    state_file(paths).write_text(json.dumps({n: r.__dict__ for n, r in records.items()}))


def require_root_user() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (chroot into the sid root): run it as root, e.g. with sudo")


def up(paths: Paths, specs: dict[str, PbxSpec], log: Log) -> dict[str, ProcessRecord]:
    """Bring both PBXs up (or find them up) and return their process records."""
    require_root_user()
    problem = root_problem(paths)
    if problem:
        raise LabError(f"the lab root is {problem}.\nRun `linkdesk lab provision` to build it "
                       f"(it rebuilds a broken root), then `linkdesk lab up` again.")
    # An extra PBX (start_extra's) running beside them does not make the pair half up.
    running = {n: r for n, r in load_state(paths).items() if r.alive() and n in specs}
    if len(running) == len(specs) and all(ami_login(s) for s in specs.values()):
        log("lab already up: " + ", ".join(f"{n} pid {r.pid}" for n, r in running.items()))
        return running
    if running:
        raise LabError("the lab is half up (" + ", ".join(running) + " running): run `linkdesk lab down` first")
    _check_ports_free(specs)
    return _start_all(paths, specs, log)


def _start_all(paths: Paths, specs: dict[str, PbxSpec], log: Log) -> dict[str, ProcessRecord]:
    records: dict[str, ProcessRecord] = {}
    install_agi_entry(paths)
    try:
        for name, spec in specs.items():
            _install_config(paths, name)
            records[name] = _spawn(paths, name)
            _save_state(paths, records)
        for name, spec in specs.items():
            _wait_booted(paths, spec, records[name])
            log(f"PBX {name} up: pid {records[name].pid}, AMI {spec.ami_host}:{spec.ami_port}, "
                f"SIP {spec.sip_host}:{spec.sip_port}")
    except BaseException:
        _stop_records(records)
        state_file(paths).unlink(missing_ok=True)
        raise
    return records


def start_extra(paths: Paths, spec: PbxSpec, log: Log) -> ProcessRecord:
    """Start one more lab PBX beside the pair `up` started (the 110 platform's
    second, for the tests of a platform on two PBXs), booted and its AMI
    answering; recorded in the lab's state, so `down` stops it too. LabError
    if its ports are taken or it does not boot (then it is stopped)."""
    require_root_user()
    records = load_state(paths)
    if spec.name in records and records[spec.name].alive():
        return records[spec.name]
    _check_ports_free({spec.name: spec})
    _install_config(paths, spec.name, names=(*records.keys(), spec.name))
    record = _spawn(paths, spec.name)
    _save_state(paths, {**records, spec.name: record})
    try:
        _wait_booted(paths, spec, record)
    except BaseException:
        stop_extra(paths, spec.name)
        raise
    log(f"PBX {spec.name} up: pid {record.pid}, AMI {spec.ami_host}:{spec.ami_port}, SIP {spec.sip_host}:{spec.sip_port}")
    return record


def stop_extra(paths: Paths, name: str) -> bool:
    """Stop the PBX `start_extra` started (by its recorded pid) and forget it; the pair runs on."""
    records = load_state(paths)
    record = records.pop(name, None)
    stopped = bool(record and stop_process(record))
    _save_state(paths, records)
    return stopped


def down(paths: Paths, log: Log) -> list[int]:
    """Stop what `up` started; return the pids that were stopped."""
    require_root_user()
    records = load_state(paths)
    stopped = _stop_records(records)
    state_file(paths).unlink(missing_ok=True)
    leftovers = processes_in_root(paths.root)
    if leftovers:
        log("note: processes not started by `lab up` still run in the lab root: "
            + ", ".join(map(str, leftovers)) + " (left alone)")
    log("lab down: stopped " + (", ".join(map(str, stopped)) or "nothing (it was not up)"))
    return stopped


def _stop_records(records: dict[str, ProcessRecord]) -> list[int]:
    return [rec.pid for rec in records.values() if stop_process(rec)]


def _check_ports_free(specs: dict[str, PbxSpec]) -> None:
    for name, spec in specs.items():
        wanted = [("AMI", "tcp", spec.ami_host, spec.ami_port), ("SIP", "udp", spec.sip_host, spec.sip_port)]
        if spec.ami_tls_port:
            wanted.append(("AMI over TLS", "tcp", spec.ami_host, spec.ami_tls_port))
        for what, kind, host, port in wanted:
            if not _port_free(kind, host, port):
                raise LabError(f"port {host}:{port}/{kind} ({what} of PBX {name}) is taken by another process.\n"
                               f"Find it with `ss -lpn 'sport = :{port}'` and stop it, then run `linkdesk lab up` again.")


def _port_free(kind: str, host: str, port: int) -> bool:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def _install_config(paths: Paths, name: str, names: tuple[str, ...] | None = None) -> None:
    """A PBX's config as a site has it: Debian's stock files (the root's
    /etc/asterisk), the site layer (asterisk-config/common and /NAME: endpoints,
    queues, numbers, ports) over them, then linkdesk's rendered kit and its
    `#include` lines in the stock files that need them."""
    etc = paths.root / paths.etc_in_root(name).lstrip("/")
    if etc.exists():
        shutil.rmtree(etc)
    shutil.copytree(paths.root / "etc" / "asterisk", etc)
    for source in (paths.config_dir / "common", paths.config_dir / name):
        for conf in source.glob("*.conf"):
            shutil.copy2(conf, etc / conf.name)
    # A fresh key pair at every install, for the AMI TLS listener (manager.conf).
    make_certificate(etc, AMI_TLS_NAME)
    plan = (lab_dialplans(paths, names) if names else lab_dialplans(paths))[name]
    add_includes(write_kit(plan, etc), etc)
    write_whisper_prompts(plan, paths.root)
    var = paths.root / paths.var_in_root(name).lstrip("/")
    for sub in VAR_DIRS:
        (var / sub).mkdir(parents=True, exist_ok=True)


def _asterisk_argv(paths: Paths, name: str, *extra: str) -> list[str]:
    conf = f"{paths.etc_in_root(name)}/asterisk.conf"
    return ["chroot", str(paths.root), "/usr/sbin/asterisk", "-C", conf, *extra]


def _spawn(paths: Paths, name: str) -> ProcessRecord:
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    console = open(paths.run_dir / f"{name}.console.log", "ab")
    with console:
        # A session of its own: the PBX outlives `lab up` and is not hit by
        # the terminal's Ctrl-C; `down` signals its process group by pid.
        proc = subprocess.Popen(_asterisk_argv(paths, name, "-f", "-n"), stdin=subprocess.DEVNULL,
                                stdout=console, stderr=subprocess.STDOUT, start_new_session=True)
    return record_of(proc.pid, name)


def _wait_booted(paths: Paths, spec: PbxSpec, record: ProcessRecord) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        if not record.alive():
            raise LabError(f"PBX {spec.name} exited during start-up; see {paths.run_dir / (spec.name + '.console.log')}")
        if _fully_booted(paths, spec.name) and ami_login(spec):
            return
        time.sleep(0.2)
    raise LabError(f"PBX {spec.name} did not boot within {BOOT_TIMEOUT:.0f} s; "
                   f"see {paths.run_dir / (spec.name + '.console.log')}")


def asterisk_cli(paths: Paths, name: str, command: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """`asterisk -rx COMMAND` on lab PBX `name`, inside the lab root; its output, as text."""
    return subprocess.run(_asterisk_argv(paths, name, "-rx", command), capture_output=True, text=True,
                          timeout=timeout)


def hang_up_all(paths: Paths, name: str) -> None:
    """Ask lab PBX `name` to hang up every channel it has (nothing when it does not run)."""
    asterisk_cli(paths, name, "channel request hangup all")


def channel_count(paths: Paths, name: str) -> int | None:
    """How many channels lab PBX `name` has up (`core show channels count`);
    None when it does not answer (stopped, or paused by a test)."""
    out = asterisk_cli(paths, name, "core show channels count")
    found = re.search(r"^(\d+) active channels?$", out.stdout, re.MULTILINE)
    return int(found.group(1)) if out.returncode == 0 and found else None


def contact_states(paths: Paths, name: str) -> dict[str, str]:
    """Each contact lab PBX `name` holds, as "AOR/URI", with its qualify status
    as `pjsip show contacts` words it (Avail, Unavail, NonQual, Unknown); {}
    when the PBX does not run."""
    out = asterisk_cli(paths, name, "pjsip show contacts")
    rows = (line.split() for line in out.stdout.splitlines() if line.strip().startswith("Contact:"))
    return {row[1]: row[3] for row in rows if len(row) > 3 and not row[1].startswith("<")}


def _fully_booted(paths: Paths, name: str) -> bool:
    out = asterisk_cli(paths, name, "core waitfullybooted", timeout=BOOT_TIMEOUT)
    return out.returncode == 0 and "fully booted" in out.stdout


def ami_login(spec: PbxSpec, timeout: float = 3.0) -> bool:
    """True when the `linkdesk` AMI user logs in and FullyBooted arrives."""
    login = (f"Action: Login\r\nActionID: lab-probe\r\nUsername: {spec.ami_user}\r\n"
             f"Secret: {spec.ami_secret}\r\nEvents: system\r\n\r\n")
    try:
        with socket.create_connection((spec.ami_host, spec.ami_port), timeout=timeout) as sock:
            sock.sendall(login.encode())
            seen = b""
            while b"Event: FullyBooted" not in seen:
                chunk = sock.recv(4096)
                if not chunk or b"Response: Error" in seen:
                    return False
                seen += chunk
            sock.sendall(b"Action: Logoff\r\n\r\n")
            return b"Response: Success" in seen
    except OSError:
        return False


def status(paths: Paths, specs: dict[str, PbxSpec]) -> dict:
    """Per PBX: whether it runs, its pid, whether AMI answers, and how to reach it."""
    records = load_state(paths)
    report = {}
    for name, spec in specs.items():
        rec = records.get(name)
        alive = bool(rec and rec.alive())
        report[name] = {"running": alive, "pid": rec.pid if alive else None,
                        "ami_ok": alive and ami_login(spec), **spec.as_dict()}
    return report
