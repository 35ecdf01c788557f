"""Renders linkdesk's dialplan contexts for one PBX (`linkdesk-extensions.conf`):
transfer, return, three-way room, the operator's grant, pre-dial and inbound.
The rest of the kit (features, ConfBridge profiles, manager user, queue and
trunk settings) is in dialplan/kit.py; both read one `PbxDialplan`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from linkdesk.dialplan.contract import (CALLER_HEADER, CALLER_NAME, CALLER_PRES, CONSULT_CONTEXT, CONSULT_DIAL,
                                        CONSULT_FROM, DESK, KEY_CONTEXT, KEY_REFUSED_EVENT, LANE, LANE_HEADER,
                                        ORDER_HEADER, ORDER_ID, REASON, RESULT, WHISPER, WHISPER_CONTEXT,
                                        WHISPER_EVENT, WHISPER_KEY, feature_names)
from linkdesk.dialplan.keys import DEFAULT_KEYS
from linkdesk.dialplan.sounds import prompt_name
from linkdesk.dialplan.version import header


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
    queues: tuple[str, ...] = ()    # the queues whose members are operators (queue settings, site check)
    digit_timeout: int = 1000       # features.conf featuredigittimeout: ms allowed between a key's digits
    ami_user: str = "linkdesk"
    ami_secret: str | None = field(default=None, repr=False)   # for the manager.conf user; None: not known
    ami_permit: str = "127.0.0.1/255.255.255.255"              # where linkdesk logs in from
    refused_sound: str = "beeperr"  # what an operator hears when a key is refused (a sound file's name)
    target_numbers: tuple[tuple[str, str], ...] = ()   # (platform, number dialled over the trunk), normal lane
    whisper_lanes: tuple[str, ...] = ("normal", "emergency")   # lanes whose receiver hears the whisper
    whisper_accept: str = "1"       # the receiver's key: bridge now
    whisper_reject: str = "2"       # the receiver's key: send the citizen back
    whisper_wait: int = 2           # s the receiver has to press a key after the normal lane's prompt
    sounds_dir: str = "/usr/local/share/asterisk/sounds/linkdesk"   # the whisper's prompts, on the PBX's host

    @property
    def features(self) -> tuple[str, ...]:
        """The applicationmap features this PBX's operators are granted."""
        return feature_names(bool(self.targets), bool(self.emergency))

    @property
    def source(self) -> str:
        """The platform at the far end of the trunk: where handed-over calls come from."""
        return (self.targets or self.emergency or ("",))[0]


def _refer_targets(plan: PbxDialplan) -> str:
    """linkdesk-refer's extensions: each platform's number, on the citizen's channel."""
    return "".join(f"""exten => {number},1,AGI({plan.agi_url}/transfer?pbx={plan.pbx}&to={platform}&mode=blind)
 same => n,GotoIf($["${{LINKDESK_RESULT}}" = "ok"]?moved)
 same => n,Goto(linkdesk-refer-back,s,1)
 same => n(moved),Wait(5)
 same => n,Goto(linkdesk-refer-back,s,1)
""" for platform, number in plan.target_numbers)


def _whisper(plan: PbxDialplan) -> str:
    """linkdesk-whisper: each lane's prompt, or straight on where the lane has none."""
    agi = plan.agi_url
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
 same => n(reject),AGI({agi}/whisper_reject?pbx={plan.pbx})
 same => n,Hangup()
"""


def _consult_targets(plan: PbxDialplan) -> str:
    """linkdesk-consult's extensions: each platform's number, on the operator's consultation call."""
    return "".join(f"""exten => {number},1,Set({CONSULT_FROM}=${{CHANNEL(endpoint)}})
 same => n,AGI({plan.agi_url}/consult?pbx={plan.pbx}&to={platform})
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
 same => n(dial),Dial(PJSIP/${{EXTEN}}@{plan.trunk},${{LINKDESK_ANSWER_TIMEOUT}},b(linkdesk-predial^s^1)${{IF($["${{LINKDESK_TRANSFER_ID}}" = ""]?:U(linkdesk-answered^s^1))}})
 same => n,GotoIf($["${{CHANNEL(endpoint)}}" = "${{{CONSULT_FROM}}}" | "${{DIALSTATUS}}" = "ANSWER"]?end)
 same => n,Goto(linkdesk-refer-back,s,1)
 same => n(end),Hangup()
exten => h,1,GotoIf($["${{LINKDESK_TRANSFER_ID}}" = ""]?done)
 same => n,UserEvent(LinkdeskTransfer,Transfer: ${{LINKDESK_TRANSFER_ID}},State: ended,Reason: ${{DIALSTATUS}})
 same => n(done),NoOp()
"""


def render_extensions(plan: PbxDialplan) -> str:
    agi = plan.agi_url
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
 same => n,Dial(PJSIP/${{EXTEN}}@{plan.trunk},${{LINKDESK_ANSWER_TIMEOUT}},Ib(linkdesk-predial^s^1)U(linkdesk-answered^s^1))
 same => n,GotoIf($["${{DIALSTATUS}}" = "ANSWER"]?done)
 same => n,Goto(linkdesk-return,s,1)
 same => n(done),Hangup()

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
 same => n(dial),Dial(PJSIP/${{EXTEN}}@{plan.trunk},${{LINKDESK_ANSWER_TIMEOUT}},b(linkdesk-predial^s^1)U(linkdesk-answered^s^1))
 same => n,GotoIf($["${{DIALSTATUS}}" = "ANSWER"]?end)
 same => n,Set(GLOBAL(LINKDESK_OUTCOME_${{LINKDESK_TRANSFER_ID}})=failed:${{DIALSTATUS}})
 same => n,UserEvent(LinkdeskTransfer,Transfer: ${{LINKDESK_TRANSFER_ID}},State: failed,Reason: ${{DIALSTATUS}})
 same => n(end),Hangup()

; A linkage unit (gas, power, water, fire, medical, …), called into a room
; as the citizen; linkdesk passes the dial string of its directory entry.
[linkdesk-unit-dial]
exten => s,1,Dial(${{LINKDESK_DIAL}},${{LINKDESK_ANSWER_TIMEOUT}},b(linkdesk-predial^s^1))
 same => n,Hangup()

; ConfBridge menu keys of an operator in a room (linkdesk_menu). ConfBridge
; runs these with dialplan_exec, not as a Gosub: the extension simply ends
; (a Return() here would log "Return without Gosub" on every press).
[linkdesk-conference-key]
exten => cancel,1,AGI({agi}/transfer_cancel?pbx={plan.pbx})
exten => take,1,AGI({agi}/conference_take?pbx={plan.pbx})

; A key (features.conf runs it on the operator's channel, as a Gosub): its
; route, and when the route refused or linkdesk could not be reached, a short
; error sound that only the operator hears; the citizen stays on the line.
[{KEY_CONTEXT}]
exten => s,1,Set({RESULT}=)
 same => n,AGI({agi}/${{ARG1}})
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
exten => s,1,AGI({agi}/inbound?trunk={plan.trunk})
 same => n,Return()

""" + _whisper(plan)

