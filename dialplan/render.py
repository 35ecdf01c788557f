"""Renders, from linkdesk's config, the Asterisk files a PBX needs for linkdesk.

`linkdesk-extensions.conf`: the transfer, warm-call, return, pre-dial and
inbound contexts; `linkdesk-features.conf`: the transfer keys (features.conf
applicationmap lines). A site `#include`s both, so that numbers, queues and
keys live in linkdesk's config alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_KEYS = {"blind": "*1", "warm": "*2", "cancel": "*0", "leave": "*4", "emergency": "*9"}
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

; Warm transfers: linkdesk calls the other side here as the citizen, while
; the citizen stays with the operator; on answer it bridges the two.
[linkdesk-warm]
exten => _X.,1,Dial(PJSIP/${{EXTEN}}@{plan.trunk},,b(linkdesk-predial^s^1)U(linkdesk-answered^s^1))
 same => n,Hangup()

; A citizen whose operator hung up while a warm transfer rings waits here to
; be bridged; if nobody answers in time, the citizen goes back to the queue.
[linkdesk-warm-hold]
exten => s,1,Gosub(linkdesk-unstamp,s,1)
 same => n,Wait(${{LINKDESK_ANSWER_TIMEOUT}})
 same => n,Set(DIALSTATUS=NOANSWER)
 same => n,Goto(linkdesk-return,s,1)

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
 same => n,Set(LINKDESK_WARM=)
 same => n,GotoIf($["${{LINKDESK_RETURN_TO}}" = ""]?queue)
 same => n,Dial(${{LINKDESK_RETURN_TO}},20)
 same => n,GotoIf($["${{DIALSTATUS}}" = "ANSWER"]?end)
 same => n(queue),Set(QUEUE_PRIO=100)
 same => n,Queue(${{IF($["${{LINKDESK_RETURN_QUEUE}}" = ""]?{plan.home_queue}:${{LINKDESK_RETURN_QUEUE}})}},r)
 same => n(end),Hangup()

; Pre-dial handler on an outgoing channel (the trunk leg, or an operator's
; phone): carries the order id and the citizen's number as headers.
[linkdesk-predial]
exten => s,1,ExecIf($["${{LINKDESK_ORDER_ID}}" != ""]?Set(PJSIP_HEADER(add,X-Linkdesk-Order)=${{LINKDESK_ORDER_ID}}))
 same => n,ExecIf($["${{LINKDESK_CALLER}}" != ""]?Set(PJSIP_HEADER(add,X-Linkdesk-Caller)=${{LINKDESK_CALLER}}))
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
    lines.append(f"linkdesk_conf_leave => {plan.keys['leave']},self,AGI,{plan.agi_url}/conference_leave?pbx={plan.pbx}")
    return "\n".join(lines) + "\n"


def write_files(plan: PbxDialplan, folder: Path) -> list[Path]:
    """Write both files into `folder` (a PBX's astetcdir); return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("linkdesk-extensions.conf", render_extensions(plan)),
                       ("linkdesk-features.conf", render_features(plan))):
        (folder / name).write_text(text)
        written.append(folder / name)
    return written
