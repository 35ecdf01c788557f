"""Steps of the lab phones' sipp scenarios, written per phone: keys as
RFC 4733 events or SIP INFO, and the phone's own in-dialog requests (a
blind REFER and what follows it), from the dialog KEEP_DIALOG keeps."""

from __future__ import annotations

from pathlib import Path

from linkdesk.bridge.lab.dtmf import write_dtmf_pcap


def dtmf_keys(press: str, after: float, workdir: Path) -> str:
    """Scenario steps that send `press` as RFC 4733 events, `after` s after
    answering; a space in `press` is a 2 s pause ("*6 *7": warm, then cancel)."""
    steps = []
    for number, keys in enumerate(press.split()):
        pcap = workdir / f"keys-{number}-{keys.encode().hex()}.pcap"
        if not pcap.exists():  # other phones may be playing it already
            write_dtmf_pcap(keys, pcap, part=number)
        pause = after if number == 0 else 2.0
        steps.append(f'<pause milliseconds="{int(pause * 1000)}" />\n'
                     f'  <nop><action><exec play_pcap_audio="{pcap}" /></action></nop>')
    return "\n  ".join(steps)


# The INVITE's From, To and Contact, kept for the phone's own in-dialog
# requests (sipp refuses a scenario that keeps a variable it never uses: only
# with INFO keys or a REFER).
KEEP_DIALOG = """<recv request="INVITE" crlf="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="invite_from" />
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="invite_to" />
      <ereg regexp="sip:[^>]*" search_in="hdr" header="Contact:" assign_to="invite_contact" />
    </action>
  </recv>"""


def _request(method: str, cseq: int, headers: str = "", body: str = "") -> str:
    """A `<send>` of a request the phone itself sends in its answered call,
    from the dialog KEEP_DIALOG kept; `headers`/`body`: lines of their own."""
    extra = "".join(f"\n      {line}" for line in headers.splitlines() if line)
    length = "[len]" if body else "0"
    content = "".join(f"\n      {line}" for line in body.splitlines()) + "\n" if body else ""
    return f"""<send>
    <![CDATA[

      {method} [$invite_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$invite_to];tag=[pid]SIPpTag01[call_number]
      To: [$invite_from]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70{extra}
      Content-Length: {length}
{content}
    ]]>
  </send>"""


def ok_reply(tail: str = "Content-Length: 0\n", next_label: str = "") -> str:
    """A `<send>` of 200 OK to the request just received (its Via, From, To,
    Call-ID and CSeq echoed back), `tail` after them (headers and body, its
    lines indented as the message's); `next_label`: where the scenario goes on."""
    after = f' next="{next_label}"' if next_label else ""
    return f"""<send{after}>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      {tail}
    ]]>
  </send>"""


def refer(number: str, pbx: str, after: float) -> str:
    """A blind REFER of the call to `number` at `pbx`, `after` s after
    answering; once the PBX's NOTIFY says 200, the phone hangs up, as a phone does."""
    return f"""<pause milliseconds="{int(after * 1000)}" />
  {_request("REFER", 300, f"Refer-To: <sip:{number}@{pbx}>")}
  <recv response="202" />
  <label id="refer_wait" />
  <recv request="NOTIFY">
    <action><ereg regexp="SIP/2.0 200" search_in="body" assign_to="refer_done" /></action>
  </recv>
  {ok_reply()}
  <nop next="refer_hangup" test="refer_done" />
  <nop next="refer_wait" />
  <label id="refer_hangup" />
  {_request("BYE", 301)}
  <recv response="200" next="done" />"""


def info_keys(press: str, after: float, gap: float) -> str:
    """Scenario steps that send `press` as SIP INFO (application/dtmf-relay),
    one request a key, `gap` s apart, `after` s after answering."""
    steps = []
    for number, key in enumerate(press.replace(" ", "")):
        pause = after if number == 0 else gap
        info = _request("INFO", 100 + number, "Content-Type: application/dtmf-relay",
                        f"Signal={key}\nDuration=160")
        steps.append(f'<pause milliseconds="{int(pause * 1000)}" />\n  {info}\n  <recv response="200" />')
    return "\n  ".join(steps)
