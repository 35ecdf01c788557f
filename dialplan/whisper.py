"""linkdesk-whisper: what the receiving operator hears before a handed-over
call is bridged, and their accept and reject keys (see render_whisper)."""

from __future__ import annotations

from linkdesk.dialplan.contract import ORDER_ID, WHISPER, WHISPER_CONTEXT, WHISPER_EVENT, WHISPER_KEY
from linkdesk.dialplan.plan import PbxDialplan
from linkdesk.dialplan.sounds import prompt_name


def render_whisper(plan: PbxDialplan) -> str:
    """linkdesk-whisper: each lane's prompt, or straight on where the lane has none."""
    lanes = []
    for lane, wait in (("normal", plan.whisper_wait), ("emergency", 0.2)):
        if lane in plan.whisper_lanes:
            lanes.append(f" same => n({lane}),Read({WHISPER_KEY},{plan.sounds_dir}/{prompt_name(lane, plan.source)},1,,1,{wait})\n"
                         " same => n,Goto(decide)\n")
        else:
            lanes.append(f" same => n({lane}),Goto(accept)\n")
    return f"""; The whisper (each operator queue's membergosub, on the receiving operator's
; channel once they answer, before the bridge): a call handed over by the
; other platform plays its lane's prompt. The accept key, or no key, bridges;
; the reject key sends the citizen back. Until accepted the caller is not
; answered (BRIDGE_NOANSWER on it), so a reject, or a receiver who hangs up
; meanwhile, ends the trunk call unanswered and the other platform's
; dialplan takes the citizen back as on a no-answer; the citizen hears
; ringback throughout. Other calls pass straight through.
[{WHISPER_CONTEXT}]
exten => s,1,GotoIf($["${{{WHISPER}}}" = ""]?done)
 same => n,Set(MASTER_CHANNEL(BRIDGE_NOANSWER)=yes)
 same => n,Set({WHISPER_KEY}=)
 same => n,GotoIf($["${{{WHISPER}}}" = "emergency"]?emergency)
{"".join(lanes)} same => n(decide),GotoIf($["${{{WHISPER_KEY}}}" = "{plan.whisper_reject}"]?reject)
 same => n(accept),Set(MASTER_CHANNEL(BRIDGE_NOANSWER)=)
 same => n,UserEvent({WHISPER_EVENT},Order: ${{{ORDER_ID}}},Result: accepted,Key: ${{{WHISPER_KEY}}},Receiver: ${{CHANNEL(endpoint)}})
 same => n(done),Return()
 same => n(reject),{plan.agi(f'whisper_reject?pbx={plan.pbx}')}
 same => n,Hangup()
"""
