"""Renders, from linkdesk's config, the Asterisk files a PBX needs for linkdesk.

`linkdesk-extensions.conf`: the transfer, conference, return, pre-dial and
inbound contexts; `linkdesk-features.conf`: the transfer keys (features.conf
applicationmap lines); `linkdesk-confbridge.conf`: the operators' keys in a
three-way room (a ConfBridge menu). A site `#include`s all three, so that numbers, queues and
keys live in linkdesk's config alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from linkdesk.dialplan.contract import CALLER_HEADER, MENU, ORDER_HEADER

DEFAULT_KEYS = {"blind": "*1", "warm": "*2", "cancel": "*0", "leave": "*4", "emergency": "*9", "non_police": "*8"}
HEADER = "; Rendered by `linkdesk dialplan render` for PBX {pbx}. Do not edit: change linkdesk's config.\n"


@dataclass(frozen=True)
class PbxDialplan:
    """What the rendered files need to know of one PBX."""

    pbx: str
    trunk: str                      # PJSIP endpoint towards the other platform
    home_queue: str                 # where a returned citizen queues when nobody else will take them
    agi_url: str = "agi://127.0.0.1:4573"
    targets: tuple[str, ...] = ()   # platforms reachable on the normal lane
    emergency: tuple[str, ...] = () # platforms reachable on the emergency lane
    keys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_KEYS))


def render_extensions(plan: PbxDialplan) -> str:
    agi = plan.agi_url
    return HEADER.format(pbx=plan.pbx) + f"""
; The citizen's channel is moved here by linkdesk (AMI Redirect), stamped with
; LINKDESK_STAMP (see linkdesk-unstamp). Every path ends with the citizen
; talking to a person or queued, even if linkdesk is down.
[linkdesk-transfer]
exten => _X.,1,Gosub(linkdesk-unstamp,s,1)
 same => n,GotoIf($["${{LINKDESK_TRANSFER_ID}}" = ""]?linkdesk-return,s,1)
 same => n,UserEvent(LinkdeskTransfer,Transfer: ${{LINKDESK_TRANSFER_ID}},State: dialing,Target: ${{EXTEN}})
 same => n,Dial(PJSIP/${{EXTEN}}@{plan.trunk},${{LINKDESK_ANSWER_TIMEOUT}},b(linkdesk-predial^s^1)U(linkdesk-answered^s^1))
 same => n,GotoIf($["${{DIALSTATUS}}" = "ANSWER"]?done)
 same => n,Goto(linkdesk-return,s,1)
 same => n(done),Hangup()

; linkdesk stamps a citizen in one Setvar, all at once or not at all:
; LINKDESK_STAMP = transfer id|order id|citizen's number|operator to return
; to|queue to return to|answer timeout. Split here; the first three are
; inherited (`__`) by the trunk leg.
[linkdesk-unstamp]
exten => s,1,Set(__LINKDESK_TRANSFER_ID=${{CUT(LINKDESK_STAMP,|,1)}})
 same => n,Set(__LINKDESK_ORDER_ID=${{CUT(LINKDESK_STAMP,|,2)}})
 same => n,Set(__LINKDESK_CALLER=${{CUT(LINKDESK_STAMP,|,3)}})
 same => n,Set(LINKDESK_RETURN_TO=${{CUT(LINKDESK_STAMP,|,4)}})
 same => n,Set(LINKDESK_RETURN_QUEUE=${{CUT(LINKDESK_STAMP,|,5)}})
 same => n,Set(LINKDESK_ANSWER_TIMEOUT=${{IF($["${{CUT(LINKDESK_STAMP,|,6)}}" = ""]?20:${{CUT(LINKDESK_STAMP,|,6)}})}})
 same => n,Return()

; On the trunk leg once the other side answers. The outcome is also kept in
; a global variable, where a restarted linkdesk finds what it missed.
[linkdesk-answered]
exten => s,1,Set(GLOBAL(LINKDESK_OUTCOME_${{LINKDESK_TRANSFER_ID}})=answered)
 same => n,UserEvent(LinkdeskTransfer,Transfer: ${{LINKDESK_TRANSFER_ID}},State: answered)
 same => n,Return()

; Back to the operator who started the transfer; if they do not answer, to
; the head of the queue the citizen came from.
[linkdesk-return]
exten => s,1,Set(GLOBAL(LINKDESK_OUTCOME_${{LINKDESK_TRANSFER_ID}})=failed:${{DIALSTATUS}})
 same => n,UserEvent(LinkdeskTransfer,Transfer: ${{LINKDESK_TRANSFER_ID}},State: failed,Reason: ${{DIALSTATUS}})
 same => n,Set(__LINKDESK_TRANSFER_ID=)
 same => n,GotoIf($["${{LINKDESK_RETURN_TO}}" = ""]?queue)
 same => n,Dial(${{LINKDESK_RETURN_TO}},20)
 same => n,GotoIf($["${{DIALSTATUS}}" = "ANSWER"]?end)
 same => n(queue),Set(QUEUE_PRIO=100)
 same => n,Queue(${{IF($["${{LINKDESK_RETURN_QUEUE}}" = ""]?{plan.home_queue}:${{LINKDESK_RETURN_QUEUE}})}},r)
 same => n(end),Hangup()

; Three-way calls. linkdesk redirects the citizen (exten `citizen`) and the
; first operator (exten `operator`) here together, each stamped with
; LINKDESK_CONFERENCE (the room: the order id) and LINKDESK_ROLE; the other
; platform is called into the room through linkdesk-conference-dial. The
; citizen's profile ends with the last operator (end_marked): a citizen left
; alone goes to the head of the queue they came from, even if linkdesk is down.
[linkdesk-conference]
exten => citizen,1,Gosub(linkdesk-unstamp,s,1)
 same => n,ConfBridge(${{LINKDESK_CONFERENCE}},linkdesk_bridge,linkdesk_citizen)
 same => n,GotoIf($["${{CONFBRIDGE_RESULT}}" = "ENDMARKED"]?alone)
 same => n,Hangup()
 same => n(alone),UserEvent(LinkdeskConference,Conference: ${{LINKDESK_CONFERENCE}},State: citizen-alone)
 same => n,Set(QUEUE_PRIO=100)
 same => n,Queue(${{IF($["${{LINKDESK_RETURN_QUEUE}}" = ""]?{plan.home_queue}:${{LINKDESK_RETURN_QUEUE}})}},r)
 same => n,Hangup()
exten => operator,1,ConfBridge(${{LINKDESK_CONFERENCE}},linkdesk_bridge,linkdesk_operator,linkdesk_menu)
 same => n,GotoIf($["${{CONFBRIDGE_RESULT}}" = "HANGUP"]?end)
 same => n,AGI({agi}/conference_leave?pbx={plan.pbx})
 same => n(end),Hangup()
; The room dissolves (the other platform never answered): linkdesk redirects
; the citizen here, stamped with LINKDESK_PEER (the operator's channel), and
; the operator to `held`, and the two talk as before (Bridge is tried again
; for a second: the operator's redirect may land after the citizen's).
; Operator gone: the head of the queue.
exten => rejoin,1,Set(LINKDESK_TRIES=0)
 same => n(try),Bridge(${{LINKDESK_PEER}})
 same => n,GotoIf($["${{BRIDGERESULT}}" = "SUCCESS"]?end)
 same => n,Set(LINKDESK_TRIES=$[${{LINKDESK_TRIES}} + 1])
 same => n,ExecIf($[${{LINKDESK_TRIES}} < 10]?Wait(0.1))
 same => n,GotoIf($[${{LINKDESK_TRIES}} < 10]?try)
 same => n,Set(QUEUE_PRIO=100)
 same => n,Queue(${{IF($["${{LINKDESK_RETURN_QUEUE}}" = ""]?{plan.home_queue}:${{LINKDESK_RETURN_QUEUE}})}},r)
 same => n(end),Hangup()
exten => held,1,Wait(10)
 same => n,Hangup()

; The other platform, called into a room as the citizen (the far side of the
; Local channel that joins the room when this Dial is answered).
[linkdesk-conference-dial]
exten => _X.,1,UserEvent(LinkdeskTransfer,Transfer: ${{LINKDESK_TRANSFER_ID}},State: dialing,Target: ${{EXTEN}})
 same => n,Dial(PJSIP/${{EXTEN}}@{plan.trunk},${{LINKDESK_ANSWER_TIMEOUT}},b(linkdesk-predial^s^1)U(linkdesk-answered^s^1))
 same => n,GotoIf($["${{DIALSTATUS}}" = "ANSWER"]?end)
 same => n,Set(GLOBAL(LINKDESK_OUTCOME_${{LINKDESK_TRANSFER_ID}})=failed:${{DIALSTATUS}})
 same => n,UserEvent(LinkdeskTransfer,Transfer: ${{LINKDESK_TRANSFER_ID}},State: failed,Reason: ${{DIALSTATUS}})
 same => n(end),Hangup()

; A linkage unit (gas, power, water, fire, medical, …), called into a room
; as the citizen; linkdesk passes the dial string of its directory entry.
[linkdesk-unit-dial]
exten => s,1,Dial(${{LINKDESK_DIAL}},${{LINKDESK_ANSWER_TIMEOUT}},b(linkdesk-predial^s^1))
 same => n,Hangup()

; ConfBridge menu keys of an operator in a room (linkdesk_menu).
[linkdesk-conference-key]
exten => cancel,1,AGI({agi}/transfer_cancel?pbx={plan.pbx})
 same => n,Return()

; Pre-dial handler on an outgoing channel (the trunk leg, or an operator's
; phone): carries the order id and the citizen's number as headers.
[linkdesk-predial]
exten => s,1,ExecIf($["${{LINKDESK_ORDER_ID}}" != ""]?Set(PJSIP_HEADER(add,{ORDER_HEADER})=${{LINKDESK_ORDER_ID}}))
 same => n,ExecIf($["${{LINKDESK_CALLER}}" != ""]?Set(PJSIP_HEADER(add,{CALLER_HEADER})=${{LINKDESK_CALLER}}))
 same => n,Return()

; Calls handed over by the other platform: linkdesk reads the headers into
; LINKDESK_ORDER_ID and LINKDESK_CALLER; if it cannot, the call goes on anyway.
[linkdesk-inbound]
exten => s,1,AGI({agi}/inbound)
 same => n,Return()
"""


def render_features(plan: PbxDialplan) -> str:
    """applicationmap lines: the transfer keys, each running a FastAGI route."""
    route = f"{plan.agi_url}/transfer?pbx={plan.pbx}"
    lines = [HEADER.format(pbx=plan.pbx).rstrip()]
    for target in plan.targets:
        lines.append(f"linkdesk_xfer_blind => {plan.keys['blind']},self,AGI,{route}&to={target}&mode=blind")
        lines.append(f"linkdesk_xfer_warm => {plan.keys['warm']},self,AGI,{route}&to={target}&mode=warm")
    for target in plan.emergency:
        lines.append(f"linkdesk_emergency => {plan.keys['emergency']},self,AGI,{route}&to={target}&lane=emergency")
    lines.append(f"linkdesk_xfer_cancel => {plan.keys['cancel']},self,AGI,{plan.agi_url}/transfer_cancel?pbx={plan.pbx}")
    # The disposition key: "not a police matter" (counted when [metrics] diversion = "disposition").
    lines.append(f"linkdesk_non_police => {plan.keys.get('non_police', DEFAULT_KEYS['non_police'])},self,AGI,"
                 f"{plan.agi_url}/non_police?pbx={plan.pbx}")
    return "\n".join(lines) + "\n"


def render_confbridge(plan: PbxDialplan) -> str:
    """The ConfBridge menu of an operator in a three-way room (features.conf
    keys do not reach a channel in ConfBridge): leave, and cancel the call
    to the other platform while it rings. A key may not start with `#`:
    confbridge.conf would read the line as a directive."""
    for name in ("leave", "cancel"):
        if plan.keys[name].startswith("#"):
            raise ValueError(f"the {name} key {plan.keys[name]!r} cannot start with '#' in a ConfBridge menu")
    return HEADER.format(pbx=plan.pbx) + f"""[{MENU}]
type = menu
{plan.keys['leave']} = leave_conference
{plan.keys['cancel']} = dialplan_exec(linkdesk-conference-key,cancel,1)
"""


def write_files(plan: PbxDialplan, folder: Path) -> list[Path]:
    """Write both files into `folder` (a PBX's astetcdir); return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("linkdesk-extensions.conf", render_extensions(plan)),
                       ("linkdesk-features.conf", render_features(plan)),
                       ("linkdesk-confbridge.conf", render_confbridge(plan))):
        (folder / name).write_text(text)
        written.append(folder / name)
    return written
