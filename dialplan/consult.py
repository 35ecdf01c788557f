"""The phone's own attended transfer: the consultation call's contexts,
linkdesk-consult and linkdesk-consult-dial (see render_consult)."""

from __future__ import annotations

from linkdesk.dialplan.contract import CALLER_PRES, CONSULT_CONTEXT, CONSULT_DIAL, CONSULT_FROM
from linkdesk.dialplan.plan import PbxDialplan


def _consult_targets(plan: PbxDialplan) -> str:
    """linkdesk-consult's extensions: each platform's number, on the operator's consultation call."""
    return "".join(f"""exten => {number},1,Set({CONSULT_FROM}=${{CHANNEL(endpoint)}})
 same => n,{plan.agi(f'consult?pbx={plan.pbx}&to={platform}')}
 same => n,Goto({CONSULT_DIAL},{number},1)
""" for platform, number in plan.target_numbers)


def render_consult(plan: PbxDialplan) -> str:
    """The phone's own attended transfer: the consultation call's contexts."""
    return f"""
; The phone's own attended transfer. An operator with a citizen on hold calls
; the other platform's number from the same phone (the site's route for it:
; `exten => <number>,1,Goto({CONSULT_CONTEXT},<number>,1)`); linkdesk finds the
; held citizen, stores the transfer and its order, and stamps this call, so
; the other platform is called as the citizen, with the headers. The phone's
; Transfer (REFER with Replaces) then joins citizen and receiver; Asterisk's
; AttendedTransfer event tells linkdesk. Refused or unreachable, linkdesk
; leaves a plain call.
[{CONSULT_CONTEXT}]
{_consult_targets(plan)}
; Transferred while this still rang, the citizen has taken this channel's
; place (its endpoint is no longer the phone's): unanswered, they go back to
; the operator or the head of their queue, even with linkdesk down. The `h`
; extension tells linkdesk how a consultation ended that handed nobody over.
[{CONSULT_DIAL}]
exten => _X.,1,Gosub(linkdesk-unstamp,s,1)
 same => n,GotoIf($["${{LINKDESK_CALLER}}" = ""]?dial)
 same => n,Set(CALLERID(num)=${{LINKDESK_CALLER}})
 same => n,Set(CALLERID(name)=${{LINKDESK_CALLER}})
 same => n,GotoIf($["${{{CALLER_PRES}}}" = ""]?dial)
 same => n,Set(CALLERID(pres)=${{{CALLER_PRES}}})
 same => n(dial),{plan.dial('b(linkdesk-predial^s^1)${IF($["${LINKDESK_TRANSFER_ID}" = ""]?:U(linkdesk-answered^s^1))}')}
 same => n,GotoIf($["${{CHANNEL(endpoint)}}" = "${{{CONSULT_FROM}}}" | "${{DIALSTATUS}}" = "ANSWER"]?end)
 same => n,Goto(linkdesk-refer-back,s,1)
 same => n(end),Hangup()
exten => h,1,GotoIf($["${{LINKDESK_TRANSFER_ID}}" = ""]?done)
 same => n,UserEvent(LinkdeskTransfer,Transfer: ${{LINKDESK_TRANSFER_ID}},State: ended,Reason: ${{DIALSTATUS}})
 same => n(done),NoOp()
"""
