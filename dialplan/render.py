"""Renders linkdesk's dialplan contexts for one PBX (`linkdesk-extensions.conf`):
transfer, return, three-way room, the operator's grant, pre-dial and inbound.
The rest of the kit (features, ConfBridge profiles, manager user, queue and
trunk settings) is in dialplan/kit.py, the whisper in whisper.py and the
attended transfer's contexts in consult.py; all read one `PbxDialplan`
(plan.py, also importable from here).
"""

from __future__ import annotations

from linkdesk.dialplan.contract import (CALLER_HEADER, CALLER_NAME, CALLER_PRES, DESK, KEY_CONTEXT, KEY_REFUSED_EVENT,
                                        LANE, LANE_HEADER, ORDER_HEADER, REASON, RESULT, WHISPER)
from linkdesk.dialplan.consult import render_consult
from linkdesk.dialplan.plan import PbxDialplan
from linkdesk.dialplan.whisper import render_whisper
from linkdesk.dialplan.version import header


def _refer_targets(plan: PbxDialplan) -> str:
    """linkdesk-refer's extensions: each platform's number, on the citizen's channel."""
    return "".join(f"""exten => {number},1,{plan.agi(f'transfer?pbx={plan.pbx}&to={platform}&mode=blind')}
 same => n,GotoIf($["${{LINKDESK_RESULT}}" = "ok"]?moved)
 same => n,Goto(linkdesk-refer-back,s,1)
 same => n(moved),Wait(5)
 same => n,Goto(linkdesk-refer-back,s,1)
""" for platform, number in plan.target_numbers)


def render_extensions(plan: PbxDialplan) -> str:
    return header(plan.pbx, "extensions.conf") + f"""
; The citizen's channel is moved here by linkdesk (AMI Redirect), stamped with
; LINKDESK_STAMP (see linkdesk-unstamp). Every path ends with the citizen
; talking to a person or queued, even if linkdesk is down.
[linkdesk-transfer]
exten => _X.,1,Gosub(linkdesk-unstamp,s,1)
 same => n,GotoIf($["${{LINKDESK_TRANSFER_ID}}" = ""]?linkdesk-return,s,1)
 same => n,UserEvent(LinkdeskTransfer,Transfer: ${{LINKDESK_TRANSFER_ID}},State: dialing,Target: ${{EXTEN}})
 same => n,Set(CONNECTEDLINE(num,i)=${{LINKDESK_TARGET}})
 same => n,Set(CONNECTEDLINE(name)=${{LINKDESK_TARGET}})
 same => n,{plan.dial('Ib(linkdesk-predial^s^1)U(linkdesk-answered^s^1)')}
 same => n,GotoIf($["${{DIALSTATUS}}" = "ANSWER"]?done)
 same => n,Goto(linkdesk-return,s,1)
 same => n(done),Hangup()
; The citizen hung up before the other side answered (Dial's CANCEL): the
; transfer ends there, kept for a restarted linkdesk as the other outcomes are.
exten => h,1,GotoIf($["${{DIALSTATUS}}" = "ANSWER" | "${{LINKDESK_TRANSFER_ID}}" = ""]?end)
 same => n,Set(GLOBAL(LINKDESK_OUTCOME_${{LINKDESK_TRANSFER_ID}})=abandoned:${{DIALSTATUS}})
 same => n,UserEvent(LinkdeskTransfer,Transfer: ${{LINKDESK_TRANSFER_ID}},State: abandoned,Reason: ${{DIALSTATUS}})
 same => n(end),NoOp()

; linkdesk stamps a citizen in one Setvar, all at once or not at all:
; LINKDESK_STAMP = transfer id|order id|citizen's number|operator to return
; to|queue to return to|answer timeout|target platform|lane. Split here;
; the first three and the lane are inherited (`__`) by the trunk leg. The citizen is shown the
; target platform while handed over, never an operator's extension: Dial's
; `I` keeps the far side's connected-line updates away from them.
[linkdesk-unstamp]
exten => s,1,Set(__LINKDESK_TRANSFER_ID=${{CUT(LINKDESK_STAMP,|,1)}})
 same => n,Set(__LINKDESK_ORDER_ID=${{CUT(LINKDESK_STAMP,|,2)}})
 same => n,Set(__LINKDESK_CALLER=${{CUT(LINKDESK_STAMP,|,3)}})
 same => n,Set(LINKDESK_RETURN_TO=${{CUT(LINKDESK_STAMP,|,4)}})
 same => n,Set(LINKDESK_RETURN_QUEUE=${{CUT(LINKDESK_STAMP,|,5)}})
 same => n,Set(LINKDESK_ANSWER_TIMEOUT=${{IF($["${{CUT(LINKDESK_STAMP,|,6)}}" = ""]?20:${{CUT(LINKDESK_STAMP,|,6)}})}})
 same => n,Set(LINKDESK_TARGET=${{CUT(LINKDESK_STAMP,|,7)}})
 same => n,Set(__{LANE}=${{CUT(LINKDESK_STAMP,|,8)}})
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
 same => n,Set(__{WHISPER}=)
 same => n,GotoIf($["${{LINKDESK_RETURN_TO}}" = ""]?queue)
 same => n,Dial(${{LINKDESK_RETURN_TO}},20,b(linkdesk-operator^s^1))
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
 same => n,Set(CHANNEL(hangup_handler_push)=linkdesk-conference-end,s,1)
 same => n,ConfBridge(${{LINKDESK_CONFERENCE}},linkdesk_bridge,linkdesk_citizen)
 same => n,GotoIf($["${{CONFBRIDGE_RESULT}}" = "ENDMARKED"]?alone)
 same => n,Hangup()
 same => n(alone),UserEvent(LinkdeskConference,Conference: ${{LINKDESK_CONFERENCE}},State: citizen-alone)
 same => n,Set(QUEUE_PRIO=100)
 same => n,Queue(${{IF($["${{LINKDESK_RETURN_QUEUE}}" = ""]?{plan.home_queue}:${{LINKDESK_RETURN_QUEUE}})}},r)
 same => n,Hangup()
exten => operator,1,ConfBridge(${{LINKDESK_CONFERENCE}},linkdesk_bridge,linkdesk_operator,linkdesk_menu)
 same => n,GotoIf($["${{CONFBRIDGE_RESULT}}" = "HANGUP"]?end)
 same => n,{plan.agi(f'conference_leave?pbx={plan.pbx}')}
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

; When the citizen hangs up, the room ends for everyone: no operator is left
; alone in a silent room (a hangup handler, so it holds with linkdesk down).
[linkdesk-conference-end]
exten => s,1,ConfKick(${{LINKDESK_CONFERENCE}},all)
 same => n,Return()

; The other platform, called into a room as the citizen (the far side of the
; Local channel that joins the room when this Dial is answered).
; The citizen's name and, if withheld, presentation, as on their own channel
; (a plain Set: a name may hold the `:` or `,` ExecIf and IF would split on).
[linkdesk-conference-dial]
exten => _X.,1,UserEvent(LinkdeskTransfer,Transfer: ${{LINKDESK_TRANSFER_ID}},State: dialing,Target: ${{EXTEN}})
 same => n,Set(CALLERID(name)=${{{CALLER_NAME}}})
 same => n,GotoIf($["${{{CALLER_PRES}}}" = ""]?dial)
 same => n,Set(CALLERID(pres)=${{{CALLER_PRES}}})
 same => n(dial),{plan.dial('b(linkdesk-predial^s^1)U(linkdesk-room-answered^s^1)')}
 same => n,GotoIf($["${{DIALSTATUS}}" = "ANSWER"]?end)
 same => n,Set(GLOBAL(LINKDESK_OUTCOME_${{LINKDESK_TRANSFER_ID}})=failed:${{DIALSTATUS}})
 same => n,UserEvent(LinkdeskTransfer,Transfer: ${{LINKDESK_TRANSFER_ID}},State: failed,Reason: ${{DIALSTATUS}})
 same => n(end),Hangup()

; The other platform answered a call into a room: they join it only if
; someone is still there. A room emptied meanwhile (the citizen hung up, or
; went back to the queue when the operator left before the answer) would hold
; them alone in silence: their call ends at once instead (GOSUB_RESULT=ABORT)
; and the transfer ends abandoned. The room is named by the order id.
[linkdesk-room-answered]
exten => s,1,GotoIf($[${{CONFBRIDGE_INFO(parties,${{LINKDESK_ORDER_ID}})}} > 0]?linkdesk-answered,s,1)
 same => n,Set(GLOBAL(LINKDESK_OUTCOME_${{LINKDESK_TRANSFER_ID}})=abandoned:ROOM-EMPTY)
 same => n,UserEvent(LinkdeskTransfer,Transfer: ${{LINKDESK_TRANSFER_ID}},State: abandoned,Reason: ROOM-EMPTY)
 same => n,Set(GOSUB_RESULT=ABORT)
 same => n,Return()

; A linkage unit (gas, power, water, fire, medical, …), called into a room
; as the citizen; linkdesk passes the dial string of its directory entry.
[linkdesk-unit-dial]
exten => s,1,Dial(${{LINKDESK_DIAL}},${{LINKDESK_ANSWER_TIMEOUT}},b(linkdesk-predial^s^1))
 same => n,Hangup()

; ConfBridge menu keys of an operator in a room (linkdesk_menu). ConfBridge
; runs these with dialplan_exec, not as a Gosub: the extension simply ends
; (a Return() here would log "Return without Gosub" on every press).
[linkdesk-conference-key]
exten => cancel,1,{plan.agi(f'transfer_cancel?pbx={plan.pbx}')}
exten => take,1,{plan.agi(f'conference_take?pbx={plan.pbx}')}

; A key (features.conf runs it on the operator's channel, as a Gosub): its
; route, and when the route refused or linkdesk could not be reached, a short
; error sound that only the operator hears; the citizen stays on the line.
[{KEY_CONTEXT}]
exten => s,1,Set({RESULT}=)
 same => n,{plan.agi(f'${{ARG1}}')}
 same => n,GotoIf($["${{{RESULT}}}" = "ok"]?done)
 same => n,UserEvent({KEY_REFUSED_EVENT},Route: ${{CUT(ARG1,?,1)}},Reason: ${{IF($["${{{REASON}}}" = ""]?linkdesk-unreachable:${{{REASON}}})}})
 same => n,Playback({plan.refused_sound})
 same => n(done),Return()

; Queue (or Dial) b() handler on the channel that rings an operator: grants
; linkdesk's keys to this channel only and marks it as an operator's
; ({DESK}, which the transfer route asks for). Inherited (`__`), so that a
; queue member that is a Local channel (FreePBX's Local/1101@from-queue/n)
; hands both on to the phone it dials. The citizen's channel never gets them.
[linkdesk-operator]
exten => s,1,Set(__DYNAMIC_FEATURES=${{IF($["${{DYNAMIC_FEATURES}}" = ""]?:${{DYNAMIC_FEATURES}}#)}}{"#".join(plan.features)})
 same => n,Set(__{DESK}={plan.pbx})
 same => n,GotoIf($["${{CHANNEL(channeltype)}}" != "PJSIP"]?headers)
 same => n,Set(LINKDESK_SITE_CONTEXT=${{PJSIP_ENDPOINT(${{CHANNEL(endpoint)}},context)}})
 same => n,Set(MASTER_CHANNEL(LINKDESK_SITE_CONTEXT)=${{LINKDESK_SITE_CONTEXT}})
 same => n,Set(TRANSFER_CONTEXT=linkdesk-refer)
 same => n(headers),Gosub(linkdesk-predial,s,1)
 same => n,Return()

; The phone's own transfer button (a blind SIP REFER): Asterisk sends the
; citizen to the number in the operator's TRANSFER_CONTEXT, set above. The
; other platform's number becomes a linkdesk transfer (order, number, the
; never-drop return); any other number goes on to the operator's own
; context, as Asterisk would have done (read from the operator's channel; if
; the phone has hung up already, from the copy the grant left on the
; citizen's, the call's master channel). If linkdesk refuses or is down, the
; citizen goes back to the operator who transferred, or the head of the queue.
[linkdesk-refer]
{_refer_targets(plan)}exten => _X.,1,Set(LINKDESK_REFER_CONTEXT=${{IMPORT(${{BLINDTRANSFER}},LINKDESK_SITE_CONTEXT)}})
 same => n,ExecIf($["${{LINKDESK_REFER_CONTEXT}}" = ""]?Set(LINKDESK_REFER_CONTEXT=${{LINKDESK_SITE_CONTEXT}}))
 same => n,GotoIf($["${{LINKDESK_REFER_CONTEXT}}" = "" | "${{LINKDESK_REFER_CONTEXT}}" = "linkdesk-refer"]?lost)
 same => n,Goto(${{LINKDESK_REFER_CONTEXT}},${{EXTEN}},1)
 same => n(lost),Goto(linkdesk-refer-back,s,1)

; A REFERred citizen linkdesk did not move on: back to the operator they came
; through (the queue member), or the head of their queue.
[linkdesk-refer-back]
exten => s,1,Set(LINKDESK_RETURN_TO=${{MEMBERINTERFACE}})
 same => n,Set(LINKDESK_RETURN_QUEUE=${{QUEUENAME}})
 same => n,Goto(linkdesk-return,s,1)
{render_consult(plan)}

; Pre-dial handler on an outgoing channel (the trunk leg, or an operator's
; phone): carries the order id, the citizen's number and the lane as headers.
[linkdesk-predial]
exten => s,1,ExecIf($["${{LINKDESK_ORDER_ID}}" != ""]?Set(PJSIP_HEADER(add,{ORDER_HEADER})=${{LINKDESK_ORDER_ID}}))
 same => n,ExecIf($["${{LINKDESK_CALLER}}" != ""]?Set(PJSIP_HEADER(add,{CALLER_HEADER})=${{LINKDESK_CALLER}}))
 same => n,ExecIf($["${{{LANE}}}" != ""]?Set(PJSIP_HEADER(add,{LANE_HEADER})=${{{LANE}}}))
 same => n,Return()

; Calls handed over by the other platform: linkdesk reads the headers into
; LINKDESK_ORDER_ID, LINKDESK_CALLER and {WHISPER} (the lane, which the
; receiver's whisper plays); if it cannot, the call goes on anyway.
[linkdesk-inbound]
exten => s,1,{plan.agi('inbound?trunk=' + '+'.join(plan.trunks))}
 same => n,Return()

""" + render_whisper(plan)

