"""sipp scenarios of the busy hour's phones, written for each phone.

A bench operator's timings are its own (drawn per phone by the bench), and
what it does with a call is read from the caller's number (plan.py): on 110,
the blind key (*5) or the warm key (*6, then *4 to leave the three-way call
once 12345 has had time to answer); on 12345, the whisper's accept key on
every call and, for a caller planned so, the emergency key (*9, then *4).
Every wait also takes the PBX's BYE (the call ended meanwhile) and its
re-INVITEs (a new party), so a phone never fails a call the PBX ended."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from linkdesk.bridge.lab.dtmf import write_dtmf_pcap
from linkdesk.bridge.lab.layout import package_dir
from linkdesk.bridge.lab.sipp_steps import ok_reply

SDP = """Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=operator 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
"""

CONTACT = "Contact: <sip:[local_ip]:[local_port];transport=[transport]>"
ANSWER_TAIL = f"{CONTACT}\n      {SDP}"     # a 200 OK that answers an INVITE: our contact and media


@dataclass(frozen=True)
class Timing:
    """One bench operator's habits, in seconds: ringing before answering,
    talk before a key, and how long a warm or emergency call is held before
    leaving it (*4)."""

    ring: float = 0.8
    before_key: float = 1.2
    hold_warm: float = 6.0


def citizen_scenario(patience: float, talk: float) -> str:
    """The busy-hour citizen (asterisk-config/sipp/busy-citizen.xml) with its patience and talk time."""
    text = (package_dir("linkdesk.asterisk_config") / "sipp" / "busy-citizen.xml").read_text()
    return text.replace("PATIENCE_MS", str(int(patience * 1000))).replace("TALK_MS", str(int(talk * 1000)))


def operator_scenario(side: str, timing: Timing, keys_dir: Path) -> str:
    """A bench operator of `side` ("110" or "12345") with `timing`; key
    recordings (RFC 4733 pcaps) are written once into `keys_dir`."""
    keys = {name: _pcap(name, keys_dir) for name in ("*5", "*6", "*4", "*9", "1")}
    if side == "110":
        plan = (_match("sip:1391", "blind") + _match("sip:1392", "warm"),
                '<nop next="do_blind" test="blind" />\n  <nop next="do_warm" test="warm" />\n  <nop next="talk" />',
                _branch("do_blind", timing.before_key, keys["*5"]) + '\n  <nop next="talk" />\n  '
                + _branch("do_warm", timing.before_key, keys["*6"]) + "\n  "
                + _wait("warm_held", timing.hold_warm) + _play(keys["*4"]) + '\n  <nop next="talk" />')
    else:
        plan = (_match("sip:1389", "emergency"),
                f'{_wait("whisper", 0.3)}{_play(keys["1"])}\n  <nop next="do_emergency" test="emergency" />\n'
                '  <nop next="talk" />',
                _branch("do_emergency", timing.before_key, keys["*9"]) + "\n  "
                + _wait("emergency_held", timing.hold_warm) + _play(keys["*4"]) + '\n  <nop next="talk" />')
    matches, decide, branches = plan
    return _OPERATOR.format(matches=matches, ring=int(timing.ring * 1000), decide=decide, branches=branches,
                            sdp=SDP, contact=CONTACT, reinvite_ok=ok_reply(ANSWER_TAIL), bye_ok=ok_reply(next_label="done"),
                            cancel_ok=ok_reply())


# The order in which a call's keys are pressed: each recording's RTP sequence
# numbers and timestamps follow the one before (write_dtmf_pcap's `part`), or
# Asterisk would take the later key for a replay of the earlier one and drop it.
_PART = {"1": 0, "*5": 1, "*6": 1, "*9": 1, "*4": 2}


def _pcap(keys: str, folder: Path) -> Path:
    path = folder / f"busy-keys-{keys.encode().hex()}.pcap"
    if not path.exists():
        write_dtmf_pcap(keys, path, part=_PART[keys])
    return path


def _match(regexp: str, name: str) -> str:
    return f'<ereg regexp="{regexp}" search_in="hdr" header="From:" check_it="false" assign_to="{name}" />\n      '


def _play(pcap: Path) -> str:
    return f'<nop><action><exec play_pcap_audio="{pcap}" /></action></nop>'


def _branch(label: str, after: float, pcap: Path) -> str:
    return f'<label id="{label}" />\n  {_wait(label + "_talk", after)}{_play(pcap)}'


def _wait(name: str, seconds: float) -> str:
    """Steps that wait `seconds`, unless the PBX ends the call (BYE) or
    re-INVITEs meanwhile (answered, and the wait is over)."""
    return f"""<recv request="BYE" optional="true" next="bye" timeout="{int(seconds * 1000)}" ontimeout="{name}_over" />
  <recv request="INVITE" next="{name}_reinvite" />
  <label id="{name}_reinvite" />
  {ok_reply(ANSWER_TAIL)}
  <recv request="ACK" next="{name}_over" />
  <label id="{name}_over" />
  """


_OPERATOR = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="linkdesk busy-hour operator">
  <recv request="INVITE" crlf="true">
    <action>
      {matches}<ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" check_it="false" assign_to="cseq" />
    </action>
  </recv>
  <send>
    <![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      {contact}
      Content-Length: 0

    ]]>
  </send>
  <recv request="CANCEL" timeout="{ring}" ontimeout="answer" next="cancelled" />

  <label id="answer" />
  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      {contact}
      {sdp}
    ]]>
  </send>
  <recv request="ACK" rtd="true" crlf="true" />
  {decide}
  {branches}

  <label id="talk" />
  <recv request="INVITE" optional="true" next="reinvite" />
  <recv request="BYE" next="bye" />
  <label id="reinvite" />
  {reinvite_ok}
  <recv request="ACK" next="talk" />

  <label id="bye" />
  {bye_ok}

  <label id="cancelled" />
  {cancel_ok}
  <send>
    <![CDATA[

      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq: [$cseq] INVITE
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" />

  <label id="done" />
</scenario>
"""
