"""Debian's baresip as a lab operator's softphone: what sipp cannot show, a
real phone's ears (the audio it received, kept as a WAV) and what its caller
display decoded (the caller's name as the phone reports it).

baresip (root.py installs `baresip-core` in the sid root) runs in the lab's
root with `chroot`, from a config folder of its own under the root's /tmp:
no sound card (the `aufile` player writes what it hears to `heard.wav`,
`ausine` is its microphone), G.711 only, one account registered with digest
auth as a lab operator, auto-answer, everything on 127.0.0.1. Its `ctrl_tcp`
module reports calls as JSON events. It is started and stopped by pid.
"""

from __future__ import annotations

import array
import json
import math
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from linkdesk.bridge.lab.layout import LabError, Operator, Paths
from linkdesk.bridge.lab.phones import free_udp_port
from linkdesk.bridge.lab.procs import stop_child

MODULES = "/usr/lib/baresip/modules"
HEARD = "heard.wav"
# Quieter than this (RMS of a FRAME s frame, 16-bit) is silence; G.711's
# silence decodes to a few units, speech to thousands.
SILENT_RMS = 200.0
FRAME = 0.02


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def config_text(folder: str, operator: Operator, ctrl_port: int, rtp_port: int) -> str:
    """baresip's `config`: the modules it needs and where it listens; `folder`
    is the config folder as baresip sees it (inside the root). ausine makes
    only 48 kHz, which baresip resamples to the codec's 8 kHz."""
    return f"""poll_method		epoll
sip_listen		{operator.sip_host}:{operator.sip_port}
net_interface		{operator.sip_host}
dns_server		127.0.0.1:53
call_local_timeout	120
call_max_calls		4
audio_player		aufile,{folder}/{HEARD}
audio_source		ausine,440
ausrc_srate		48000
ausrc_channels		1
rtp_ports		{rtp_port}-{rtp_port + 3}
jitter_buffer_type	fixed
jitter_buffer_delay	2-5
module_path		{MODULES}
module			g711.so
module			aufile.so
module			ausine.so
module_app		account.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:{ctrl_port}
"""


def account_line(operator: Operator, answer_ms: int) -> str:
    """baresip's `accounts` line: `operator` registers with its PBX (digest,
    its secret) and answers every call by itself after `answer_ms` ms (a
    delay, so that baresip reports the incoming call before answering)."""
    return (f"<sip:{operator.extension}@{operator.registrar_host}:{operator.registrar_port};transport=udp>"
            f";auth_user={operator.extension};auth_pass={operator.password}"
            f";answermode=auto;answerdelay={answer_ms};audio_codecs=PCMU,PCMA"
            f";regint=3600;mwi=no;pubint=0\n")


class Baresip:
    """One baresip process as `operator`'s phone; `events()` are its ctrl_tcp
    reports, `recording` the WAV of everything it heard in its calls."""

    def __init__(self, paths: Paths, operator: Operator, answer_ms: int = 300):
        self.operator = operator
        self.folder = Path(tempfile.mkdtemp(prefix="linkdesk-baresip-", dir=paths.root / "tmp"))
        inside = "/" + str(self.folder.relative_to(paths.root))
        self.ctrl_port = free_tcp_port()
        (self.folder / "config").write_text(
            config_text(inside, operator, self.ctrl_port, free_udp_port(4)), encoding="utf-8")
        (self.folder / "accounts").write_text(account_line(operator, answer_ms), encoding="utf-8")
        self.log_file = self.folder / "baresip.log"
        self._events: list[dict] = []
        self._ctrl: socket.socket | None = None
        self._received = b""
        with open(self.log_file, "wb") as log:
            self.process = subprocess.Popen(["chroot", str(paths.root), "baresip", "-f", inside],
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def recording(self) -> Path:
        """The WAV the `aufile` player writes what the phone hears to."""
        return self.folder / HEARD

    def log(self) -> str:
        """What baresip printed (its info lines, warnings and errors)."""
        return self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file.exists() else ""

    def registered(self) -> bool:
        """True once the PBX has answered this phone's REGISTER with 200 OK."""
        # e.g. "2101@127.0.0.1: (prio 0) {0/UDP/v4} 200 OK (linkdesk-lab-12345) [1 binding]"
        return any(line.startswith(f"{self.operator.extension}@") and "} 200 " in line and "binding" in line
                   for line in self.log().splitlines())

    def wait_registered(self, timeout: float = 10.0) -> None:
        """Return once registered and its control socket is connected;
        LabError, with baresip's log, if it exits or the PBX does not say 200 OK."""
        deadline = time.monotonic() + timeout
        while not self.registered():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise LabError(f"baresip as {self.operator.extension} did not register with "
                               f"{self.operator.registrar_host}:{self.operator.registrar_port} "
                               f"(exit {self.process.returncode}); its log:\n{self.log()}")
            time.sleep(0.05)
        self._ctrl = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=2)
        self._ctrl.setblocking(False)

    def events(self) -> list[dict]:
        """Every ctrl_tcp event baresip has sent since `wait_registered`, in order."""
        if self._ctrl is not None:
            self._drain()
        return list(self._events)

    def calls(self, kind: str) -> list[dict]:
        """The call events of type `kind` (CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED, …)."""
        return [e for e in self.events() if e.get("class") == "call" and e.get("type") == kind]

    def _drain(self) -> None:
        while True:
            try:
                chunk = self._ctrl.recv(65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self._received += chunk
        found, self._received = split_netstrings(self._received)
        self._events.extend(found)

    def stop(self) -> int:
        """TERM baresip (it unregisters and closes the WAV), KILL it after 5 s; its exit code."""
        if self._ctrl is not None:
            self._ctrl.close()
            self._ctrl = None
        return stop_child(self.process, grace=5)

    def remove(self, keep_in: Path | None = None) -> None:
        """Stop it and delete its config folder from the root, after copying
        it (config, log, recording) to `keep_in` if given."""
        self.stop()
        if keep_in is not None:
            shutil.copytree(self.folder, keep_in, dirs_exist_ok=True)
        shutil.rmtree(self.folder, ignore_errors=True)


def split_netstrings(received: bytes) -> tuple[list[dict], bytes]:
    """The complete netstrings (`len:json,`, as ctrl_tcp frames its messages)
    at the start of `received`, decoded as UTF-8 JSON, and the incomplete rest."""
    found = []
    while b":" in received:
        size, _, rest = received.partition(b":")
        length = int(size)
        if len(rest) < length + 1:
            break
        found.append(json.loads(rest[:length].decode("utf-8")))
        received = rest[length + 1:]
    return found, received


def read_heard(path: Path) -> tuple[int, array.array]:
    """(sample rate, 16-bit mono samples) of a WAV that `aufile` may still be
    writing: the data chunk runs to the end of the file, whatever its header
    says (the sizes are written only when the file is closed)."""
    raw = path.read_bytes() if path.exists() else b""
    if len(raw) < 44 or raw[:4] != b"RIFF":
        return 8000, array.array("h")
    rate = int.from_bytes(raw[24:28], "little")
    start = raw.find(b"data", 12) + 8
    data = raw[start:]
    samples = array.array("h", data[:len(data) // 2 * 2])
    return rate, samples


def loudness(rate: int, samples: array.array, start: float = 0.0, end: float | None = None,
             frame: float = FRAME) -> list[float]:
    """The RMS of each `frame` s of `samples` from `start` to `end` s: the
    shape of what was said, which G.711 and a jitter buffer keep."""
    step = max(1, int(rate * frame))
    last = len(samples) if end is None else min(len(samples), int(end * rate))
    return [_rms(samples[i:i + step]) for i in range(int(start * rate), last - step + 1, step)]


def sound_spans(rate: int, samples: array.array, gap: float = 0.8, frame: float = FRAME) -> list[tuple[float, float]]:
    """The stretches of sound (start, end in s) in `samples`: frames louder
    than SILENT_RMS, joined across pauses shorter than `gap` s (the pauses
    between words)."""
    spans: list[list[float]] = []
    for number, level in enumerate(loudness(rate, samples, frame=frame)):
        at = number * frame
        if level <= SILENT_RMS:
            continue
        if spans and at - spans[-1][1] < gap:
            spans[-1][1] = at + frame
        else:
            spans.append([at, at + frame])
    return [(round(a, 2), round(b, 2)) for a, b in spans]


def likeness(heard: list[float], said: list[float], most_lag: int = 5) -> float:
    """How alike two loudness curves are: their best Pearson correlation with
    one shifted up to `most_lag` frames against the other (1.0: the same
    words; another prompt or a tone scores near 0)."""
    best = -1.0
    for lag in range(-most_lag, most_lag + 1):
        a, b = heard[max(0, lag):], said[max(0, -lag):]
        size = min(len(a), len(b))
        if size > 2 and len(set(a[:size])) > 1 and len(set(b[:size])) > 1:
            best = max(best, statistics.correlation(a[:size], b[:size]))
    return best


def _rms(frame: array.array) -> float:
    return math.sqrt(sum(s * s for s in frame) / len(frame)) if frame else 0.0
