"""sipp as citizens and as operators' softphones, for the lab's tests and demo.

Every sipp process is started here, known by pid, and stopped by pid. An
operator's phone registers with its PBX (digest, the secret from pjsip.conf)
before it answers calls. The scenarios are in asterisk-config/sipp/.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

from linkdesk.bridge.lab.layout import LabError, Operator, PbxSpec, package_dir
from linkdesk.bridge.lab.dtmf import write_tone_pcap
from linkdesk.bridge.lab.sipp_steps import KEEP_DIALOG, dtmf_keys, info_keys, refer
from linkdesk.bridge.lab.procs import stop_child

# What a lab phone asks to stay registered for: longer than any test session
# (the operators' AORs allow an hour); each new phone registers afresh.
REGISTER_SECONDS = 3600


def require_sipp() -> None:
    """LabError, saying what to install, when there is no sipp to play the phones."""
    if shutil.which("sipp") is None:
        raise LabError("sipp not found on PATH: the lab's phones are sipp; install Debian's sip-tester "
                       "(apt-get install sip-tester)")


def _scenario(name: str) -> Path:
    """A sipp scenario shipped with the lab's site files (asterisk-config/sipp/)."""
    return package_dir("linkdesk.asterisk_config") / "sipp" / name


# The lab phones' ports come from here, below the kernel's ephemeral range
# (32768-60999): a port the system hands out to some other socket can then
# never be taken between the check below and the phone's own bind, which the
# busy hour met as "Unable to bind main socket" at a few calls a second.
# Above the lab PBXs' RTP (rtp.conf: 11000-12999). Handed out in turn, from a
# start that differs per process, so a port is reused only once the rest have been.
_POOL_START, _POOL_END = 20000, 32000
_cursor = [os.getpid() * 7919 % (_POOL_END - _POOL_START)]
_pool_lock = threading.Lock()


def free_udp_port(span: int = 1) -> int:
    """A UDP port on 127.0.0.1 that is free together with the `span - 1` after it."""
    with _pool_lock:
        for _ in range(_POOL_END - _POOL_START):
            base = _POOL_START + _cursor[0] % (_POOL_END - _POOL_START - span)
            _cursor[0] += span
            if all(_udp_free(base + i) for i in range(span)):
                return base
    raise LabError(f"no {span} free UDP port(s) together in {_POOL_START}-{_POOL_END} on 127.0.0.1")


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class SippPhone:
    """One sipp process; `messages()` is the SIP it sent and received."""

    def __init__(self, role: str, argv: list[str], workdir: Path):
        self.role = role
        self.after_stop = None      # run once, after the process is gone (an operator's phone unregisters)
        self.message_file = workdir / f"{role}-{os.getpid()}-{id(self)}.msg"
        self.output_file = self.message_file.with_suffix(".out")
        with open(self.output_file, "wb") as out:
            self.process = subprocess.Popen(
                [*argv, "-trace_msg", "-message_file", str(self.message_file)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def finished(self, timeout: float) -> int:
        """sipp's exit code (0: every call succeeded); TimeoutError if it runs on."""
        async with asyncio.timeout(timeout):
            while self.process.poll() is None:
                await asyncio.sleep(0.05)
        return self.process.returncode

    async def hung_up(self, timeout: float) -> None:
        """Return once the PBX has sent this phone a BYE (its call is over)."""
        async with asyncio.timeout(timeout):
            while "\nBYE sip:" not in self.messages():
                await asyncio.sleep(0.05)

    def messages(self) -> str:
        return self.message_file.read_text(errors="replace") if self.message_file.exists() else ""

    def invites(self) -> list[str]:
        """Every INVITE this phone received (request line and headers), in order."""
        return [block.split("\n\n", 1)[0] for block in re.findall(r"^INVITE sip:.*?(?:\n\n|\Z)", self.messages(),
                                                                 re.MULTILINE | re.DOTALL)]

    def first_invite(self) -> str:
        """The first INVITE this phone received, or '' if it was never rung."""
        invites = self.invites()
        return invites[0] if invites else ""

    def output(self) -> str:
        return self.output_file.read_text(errors="replace") if self.output_file.exists() else ""

    def vanish(self) -> None:
        """Gone without a word (a crashed phone, a pulled cable): stopped, and its registration left standing."""
        self.after_stop = None
        stop_child(self.process, grace=5)

    def stop(self) -> None:
        stop_child(self.process, grace=5)
        if self.after_stop is not None:
            after, self.after_stop = self.after_stop, None
            after()


def sip_header(message: str, name: str) -> str:
    """The value of header `name` in a SIP message, '' when absent."""
    match = re.search(rf"^{name}:\s*(.+)$", message, re.MULTILINE | re.IGNORECASE)
    return match.group(1).strip() if match else ""


class SippPhones:
    """Starts citizens and operators; `stop_all()` ends every one still running."""

    def __init__(self, workdir: Path, background: bool = False):
        """`background`: the phones run under SCHED_IDLE, on the CPU the
        PBXs and linkdesk leave. A bench runs dozens of them beside the PBXs
        on the lab's two cores, where on a site no phone shares the PBX's
        host. Each sipp wakes about a thousand times a second even when idle,
        and under `nice` alone those wake-ups still delayed the PBXs' and
        linkdesk's threads (the busy hour's key→INVITE p99 at 1 call/s: 91 ms
        with the phones at nice 10, 43 ms under SCHED_IDLE), so a figure
        measured the phones' scheduling rather than the PBX's."""
        require_sipp()
        self.workdir = workdir
        self.background = background
        self.started: list[SippPhone] = []

    def citizen(self, pbx: PbxSpec, number: str, caller: str, talk_seconds: float = 2.0,
                withheld: bool = False, press: str = "", press_after: float = 1.0,
                headers: tuple[str, ...] = (), speak_seconds: float = 0.0,
                silent_seconds: float = 0.0, name: str = "") -> SippPhone:
        """A citizen with number `caller` dials `number` on `pbx`, talks, hangs up.
        `withheld`: the number goes only in P-Asserted-Identity, with Privacy: id.
        `press`: keys the citizen presses `press_after` s after being answered.
        `headers`: extra INVITE header lines (e.g. a forged X-Linkdesk-Order).
        `speak_seconds`: the citizen speaks (a tone) for this long from being
        answered, then sends `silent_seconds` of silence. `name`: the display
        name (UTF-8) instead of the number."""
        text = (_scenario("citizen.xml")).read_text().replace("TALK_MS", str(int(talk_seconds * 1000)))
        steps = dtmf_keys(press, press_after, self.workdir) if press else ""
        if speak_seconds:
            tone = write_tone_pcap(self.workdir / f"speech-{len(self.started)}.pcap", speak_seconds, silent_seconds)
            steps = f'<nop><action><exec play_pcap_audio="{tone}" /></action></nop>\n  {steps}'
        text = text.replace("<!--KEYS-->", steps)
        if name:
            text = text.replace('encoding="ISO-8859-1"', 'encoding="UTF-8"').replace('From: "[$caller]"', f'From: "{name}"')
        for header in headers:
            text = text.replace("Subject: linkdesk lab citizen\n", f"Subject: linkdesk lab citizen\n      {header}\n", 1)
        if withheld:
            text = text.replace('From: "[$caller]" <sip:[$caller]@[local_ip]:[local_port]>',
                                'From: "Anonymous" <sip:anonymous@anonymous.invalid>')
            text = text.replace("Subject: linkdesk lab citizen",
                                "Subject: linkdesk lab citizen\n      "
                                "P-Asserted-Identity: <sip:[$caller]@[local_ip]>\n      Privacy: id")
        # One file per phone: a sipp still reading a shared file would see it rewritten.
        scenario = self.workdir / f"citizen-{len(self.started)}.xml"
        scenario.write_text(text, encoding="utf-8")
        return self.calling(pbx, number, caller, scenario)

    def calling(self, pbx: PbxSpec, number: str, caller: str, scenario: Path, lifetime: int = 60) -> SippPhone:
        """A citizen's phone playing `scenario` (its [$caller] is `caller`): one call to `number` on `pbx`."""
        return self._start("citizen", [
            "-sf", str(scenario), "-set", "caller", caller,
            "-s", number, f"{pbx.sip_host}:{pbx.sip_port}", "-p", str(free_udp_port())], lifetime=lifetime)

    def impostor(self, pbx: PbxSpec, number: str, claims: str) -> SippPhone:
        """Someone without credentials dials `number` on `pbx` from a random
        port, with the operator extension `claims` in From; its sipp exits 0
        only if the PBX challenged the INVITE (asterisk-config/sipp/forged.xml)."""
        return self._start("impostor", [
            "-sf", str(_scenario("forged.xml")), "-set", "from_user", claims,
            "-s", number, f"{pbx.sip_host}:{pbx.sip_port}", "-p", str(free_udp_port())])

    def register(self, operator: Operator, timeout: float = 10.0, seconds: int = REGISTER_SECONDS) -> SippPhone:
        """REGISTER `operator`'s contact (its own port) with its PBX, answering
        the digest challenge with its password; returns the finished sipp once
        the PBX has said 200 OK, which it says only once it holds the contact.
        `seconds=0` removes the contact again. LabError, with what the PBX
        answered, if it refuses or is silent."""
        phone = self._start(f"register-{operator.extension}", [
            "-sf", str(_scenario("register.xml")), "-s", operator.extension,
            "-au", operator.extension, "-ap", operator.password, "-set", "expires", str(seconds),
            # -aa: the PBX may qualify the new contact before this sipp is gone.
            "-aa", "-p", str(operator.sip_port), f"{operator.registrar_host}:{operator.registrar_port}"])
        try:
            code = phone.process.wait(timeout)
        except subprocess.TimeoutExpired:
            phone.stop()
            code = None
        if code != 0:
            raise LabError(f"phone {operator.extension} could not register with "
                           f"{operator.registrar_host}:{operator.registrar_port} (sipp exit {code}): is the lab "
                           f"up, and is its password the one in pjsip.conf? The SIP it saw:\n{phone.messages()}")
        return phone

    def operator(self, operator: Operator, answer_after: float = 0.3, press: str = "",
                 press_after: float = 1.0, info_gap: float | None = None, refer_to: str = "") -> SippPhone:
        """The softphone of `operator`, registered with its PBX before this
        returns (see `register`): rings, answers after `answer_after` s,
        presses the keys `press` (e.g. "*5") `press_after` s later, waits for BYE.
        With `info_gap`, the keys go as SIP INFO requests that far apart;
        `refer_to`: the phone's own transfer button instead, a blind REFER to
        that number `press_after` s after answering."""
        scenario = self.workdir / f"operator-{operator.extension}-{len(self.started)}.xml"
        text = (_scenario("operator.xml")).read_text()
        if info_gap is not None or refer_to:
            pbx = f"{operator.registrar_host}:{operator.registrar_port}"
            steps = (refer(refer_to, pbx, press_after) if refer_to
                     else info_keys(press, press_after, info_gap))
            text = text.replace('<recv request="INVITE" crlf="true" />', KEEP_DIALOG, 1).replace("<!--KEYS-->", steps)
        scenario.write_text(text.replace("<!--KEYS-->", dtmf_keys(press, press_after, self.workdir)))
        return self.answering(operator, scenario, answer_after)

    def answering(self, operator: Operator, scenario: Path, answer_after: float = 0.3,
                  lifetime: int = 60) -> SippPhone:
        """`operator`'s phone playing `scenario` for every call it is rung
        with, registered first; it quits after `lifetime` s, unregistering."""
        self.register(operator)
        # The same port as the registration: the PBX rings the contact it holds.
        # Not `-m 1`: the PBX qualifies phones with OPTIONS, which -aa answers
        # and sipp would count as calls. The phone runs until stopped, and then
        # unregisters, as a real phone does: a contact left behind would be
        # rung (until qualify finds it gone) by the next test's queue.
        phone = self._start(f"operator-{operator.extension}", [
            "-sf", str(scenario), "-p", str(operator.sip_port), "-d", str(int(answer_after * 1000)),
            "-aa"], calls=None, lifetime=lifetime)
        phone.after_stop = lambda: self._unregister(operator)
        return phone

    def _unregister(self, operator: Operator) -> None:
        try:
            self.register(operator, timeout=3.0, seconds=0)
        except LabError:
            pass   # the PBX is down already (the lab's teardown): nothing is left to ring

    def _start(self, role: str, args: list[str], calls: int | None = 1, lifetime: int = 60) -> SippPhone:
        limit = ["-m", str(calls)] if calls else []
        idle = ["chrt", "--idle", "0"] if self.background else []
        argv = [*idle, "sipp", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", str(free_udp_port(4)),
                *limit, "-nostdin", "-timeout", f"{lifetime}s", "-timeout_error", *args]
        phone = SippPhone(role, argv, self.workdir)
        self.started.append(phone)
        return phone

    def stop_all(self) -> None:
        for phone in self.started:
            phone.stop()
