"""The lab's own PostgreSQL: Debian's server binaries run on a cluster that
linkdesk's tooling owns (never the Debian-managed `main` cluster), listening
on 127.0.0.1 only, its unix socket in the cluster directory; started and
stopped by pid, never by name.

The cluster is made on first use (initdb, as the `postgres` system user when
run as root: initdb refuses root) and kept; `start` on a running cluster
returns it as it is, so both are cheap to call again."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from linkdesk.bridge.lab.layout import LabError
from linkdesk.bridge.lab.procs import ProcessRecord, record_of

DEFAULT_CLUSTER = Path("/var/lib/linkdesk/pg")
DEBIAN_SERVERS = Path("/usr/lib/postgresql")     # Debian's postgresql-NN packages: NN/bin/{initdb,postgres}
SUPERUSER = "linkdesk"          # initdb's bootstrap role: the one the lab and the tests connect as
SERVER_USER = "postgres"        # the system user Debian's package creates, for running as root
START_TIMEOUT = 30.0
STOP_GRACE = 10.0
PORT_TRIES = 3                  # a free port can be taken between our look and the server's bind
# For throw-away clusters (tests): a crash may lose them, which costs nothing.
NOT_DURABLE = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


@dataclass(frozen=True)
class PostgresServer:
    """A running cluster: where it is, its port and its postmaster's pid."""

    cluster: Path
    port: int
    pid: int

    def url(self, dbname: str = "postgres") -> str:
        """A libpq URL for database `dbname` on this server, as the superuser."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"


def server_binaries(installed: Path = DEBIAN_SERVERS) -> Path:
    """The bin directory of the newest PostgreSQL server Debian installed;
    LabError naming the package when there is none."""
    found = sorted(installed.glob("*/bin"),
                   key=lambda bin_dir: _version(bin_dir.parent.name))
    found = [bin_dir for bin_dir in found if (bin_dir / "initdb").is_file() and (bin_dir / "postgres").is_file()]
    if not found:
        raise LabError(f"PostgreSQL's server is not installed (no {installed}/*/bin/initdb): "
                       "apt-get install postgresql")
    return found[-1]


def start(cluster: Path = DEFAULT_CLUSTER, durable: bool = True, port: int | None = None) -> PostgresServer:
    """The server on `cluster`, made on first use and started unless it runs
    (on `port`, else a free one); LabError (with the server's log) if it does
    not come up."""
    cluster = Path(cluster)
    running = status(cluster)
    if running is not None:
        return running
    bin_dir = server_binaries()
    if not (cluster / "PG_VERSION").is_file():
        _initdb(bin_dir, cluster)
    for _ in range(1 if port else PORT_TRIES):
        server = _launch(bin_dir, cluster, port or _free_port(), durable)
        if server is not None:
            return server
    raise LabError(f"PostgreSQL on {cluster} did not start: {_log_tail(cluster)}")


def crash(server: PostgresServer) -> None:
    """SIGKILL the postmaster and every process it started, as a host's
    crash would; `start(cluster, port=server.port)` brings it back (with crash
    recovery) where its clients will look for it."""
    children = [int(p) for p in (Path(f"/proc/{server.pid}/task/{server.pid}/children")
                                 .read_text().split())] if _is_postgres(server.pid) else []
    records = [record_of(pid, "postgres") for pid in (server.pid, *children)]
    for record in records:
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGKILL)
    for record in records:
        _gone(record, STOP_GRACE)


def status(cluster: Path = DEFAULT_CLUSTER) -> PostgresServer | None:
    """The running server on `cluster` (its postmaster.pid names a live
    postgres that says it is ready), or None."""
    fields = _pid_file(Path(cluster))
    if len(fields) < 8 or fields[7].strip() != "ready":
        return None
    pid = int(fields[0])
    if not _is_postgres(pid):
        return None     # a stale file, left by a server that died
    return PostgresServer(cluster=Path(cluster), port=int(fields[3]), pid=pid)


def stop(cluster: Path = DEFAULT_CLUSTER, grace: float = STOP_GRACE) -> bool:
    """Stop the server on `cluster` by its postmaster's pid: a fast shutdown
    (sessions are cut, nothing committed is lost), an immediate one after
    `grace` s. True if one ran."""
    fields = _pid_file(Path(cluster))
    if not fields or not _is_postgres(int(fields[0])):
        return False
    record = record_of(int(fields[0]), "postgres")
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
        try:
            os.kill(record.pid, sig)
        except ProcessLookupError:
            pass
        if _gone(record, grace):
            break
    return True


def _initdb(bin_dir: Path, cluster: Path) -> None:
    cluster.mkdir(parents=True, exist_ok=True, mode=0o700)
    _give_to_server_user(cluster)
    done = subprocess.run([str(bin_dir / "initdb"), "--pgdata", str(cluster), "--username", SUPERUSER,
                           "--auth", "trust", "--encoding", "UTF8", "--locale", "C.UTF-8", "--no-sync"],
                          capture_output=True, text=True, timeout=120, **_as_server_user())
    if done.returncode != 0:
        raise LabError(f"initdb {cluster} failed: {(done.stderr or done.stdout).strip()}")


def _launch(bin_dir: Path, cluster: Path, port: int, durable: bool) -> PostgresServer | None:
    """Start the postmaster and wait until it is ready; None if it exited (its port taken)."""
    settings = ["listen_addresses=127.0.0.1", f"port={port}", f"unix_socket_directories={cluster}",
                *(() if durable else NOT_DURABLE)]
    args = [str(bin_dir / "postgres"), "-D", str(cluster)]
    for setting in settings:
        args += ["-c", setting]
    with open(cluster / "server.log", "ab") as log:
        server = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True, **_as_server_user())
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return None
        running = status(cluster)
        if running is not None and running.pid == server.pid:
            return running
        time.sleep(0.02)
    record = record_of(server.pid, "postgres")
    os.kill(server.pid, signal.SIGQUIT)
    _gone(record, STOP_GRACE)
    raise LabError(f"PostgreSQL on {cluster} was not ready in {START_TIMEOUT:g} s: {_log_tail(cluster)}")


def _gone(record: ProcessRecord, within: float) -> bool:
    deadline = time.monotonic() + within
    while record.alive():
        _reap(record.pid)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    _reap(record.pid)
    return True


def _reap(pid: int) -> None:
    # The postmaster is our child only when this process started it.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _as_server_user() -> dict:
    """Popen's arguments to run as the `postgres` system user when we are
    root (initdb and postgres refuse root); none otherwise."""
    if os.geteuid() != 0:
        return {}
    if not _user_exists(SERVER_USER):
        raise LabError(f"no {SERVER_USER!r} system user to run PostgreSQL as: apt-get install postgresql")
    return {"user": SERVER_USER, "group": SERVER_USER, "extra_groups": []}


def _give_to_server_user(cluster: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(cluster, SERVER_USER, SERVER_USER)
        os.chmod(cluster, 0o700)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _pid_file(cluster: Path) -> list[str]:
    try:
        return (cluster / "postmaster.pid").read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def _is_postgres(pid: int) -> bool:
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).name == "postgres"
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _log_tail(cluster: Path, lines: int = 5) -> str:
    try:
        return " | ".join((cluster / "server.log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server.log)"


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())
