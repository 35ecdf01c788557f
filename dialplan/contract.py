"""The names the rendered dialplan and linkdesk's code share: contexts,
channel variables, the UserEvent and the stamp's fields. render.py writes
them into the PBX's files; the core, ami/ and metrics/ read and set them.
Change one here and both sides change together."""

from __future__ import annotations

import re

# Contexts (rendered into linkdesk-extensions.conf)
TRANSFER_CONTEXT = "linkdesk-transfer"          # a blind transfer's citizen is moved here
RETURN_CONTEXT = "linkdesk-return"              # back to the first operator, or the head of their queue
CONFERENCE_CONTEXT = "linkdesk-conference"      # the three-way room (citizen, operator, rejoin, held)
CONFERENCE_DIAL = "linkdesk-conference-dial"    # the other platform called into a room
UNIT_DIAL = "linkdesk-unit-dial"                # a linkage unit called into a room
OPERATOR_CONTEXT = "linkdesk-operator"          # Queue/Dial b() handler on an operator's channel: the grant
KEY_CONTEXT = "linkdesk-key"                    # a key's route, and the refusal tone when it fails
WHISPER_CONTEXT = "linkdesk-whisper"            # queues.conf membergosub: the receiver's whisper
KEY_REFUSED_EVENT = "LinkdeskKeyRefused"        # the UserEvent linkdesk-key sends with that tone
CONSULT_CONTEXT = "linkdesk-consult"            # an operator's consultation call to the other platform (attended)
CONSULT_DIAL = "linkdesk-consult-dial"          # … and its dial over the trunk, where a citizen handed over early lands
SOUND_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_/.-]{0,80}")   # a sound file's name, safe in a URL and a command

# ConfBridge profiles (rendered into linkdesk-confbridge.conf)
BRIDGE_PROFILE, OPERATOR_PROFILE, MENU = "linkdesk_bridge", "linkdesk_operator", "linkdesk_menu"
CITIZEN_PROFILE = "linkdesk_citizen"
PROFILES = (BRIDGE_PROFILE, CITIZEN_PROFILE, OPERATOR_PROFILE, MENU)

# features.conf applicationmap entries: feature name → the key (in [pbx.NAME.dialplan] keys) that runs it
FEATURES = {"linkdesk_xfer_blind": "blind", "linkdesk_xfer_warm": "warm", "linkdesk_emergency": "emergency",
            "linkdesk_xfer_cancel": "cancel", "linkdesk_non_police": "non_police"}


def feature_names(normal: bool, emergency: bool) -> tuple[str, ...]:
    """The features a PBX grants its operators: the transfer keys of the lanes it
    has targets on, the cancel key and the disposition key."""
    lanes = (("linkdesk_xfer_blind", normal), ("linkdesk_xfer_warm", normal), ("linkdesk_emergency", emergency))
    return tuple(name for name, present in lanes if present) + ("linkdesk_xfer_cancel", "linkdesk_non_police")


# Channel variables
STAMP = "LINKDESK_STAMP"                # the citizen's stamp, split by linkdesk-unstamp
TRANSFER_ID = "LINKDESK_TRANSFER_ID"
ORDER_ID = "LINKDESK_ORDER_ID"
CALLER = "LINKDESK_CALLER"
CALLER_NAME = "LINKDESK_CALLER_NAME"    # the citizen's display name, for the leg into a room
CALLER_PRES = "LINKDESK_CALLER_PRES"    # the citizen's CALLERID(pres) there (a withheld number stays withheld)
DESK = "LINKDESK_DESK"                  # set (to the PBX) on an operator's channel by linkdesk-operator only
ROLE = "LINKDESK_ROLE"                  # citizen, 110, 12345 or a unit id (manager.conf channelvars)
CHANNEL_VARS = ("LINKDESK_ROLE", "LINKDESK_ORDER_ID", "QUEUESTATUS")   # manager.conf channelvars linkdesk reads
CONFERENCE = "LINKDESK_CONFERENCE"      # the room a channel is in
PEER = "LINKDESK_PEER"                  # who a dissolving room's citizen rejoins
LANE = "LINKDESK_LANE"                  # the sending side's lane (normal | emergency), carried as a header
WHISPER = "LINKDESK_WHISPER"            # set by `inbound` to the lane a call was handed over on: whisper it
WHISPER_KEY = "LINKDESK_WHISPER_KEY"    # the key the receiver pressed during the whisper
REJECTED = "LINKDESK_REJECTED"          # the receiver rejected the order: the citizen comes back
ANSWER_TIMEOUT = "LINKDESK_ANSWER_TIMEOUT"
DIAL = "LINKDESK_DIAL"                  # a linkage unit's dial string
OUTCOME_PREFIX = "LINKDESK_OUTCOME_"    # global LINKDESK_OUTCOME_<transfer id>: answered | failed:<DIALSTATUS>
RESULT, REASON = "LINKDESK_RESULT", "LINKDESK_REASON"   # every AGI route's result

# SIP headers the trunk carries (set by the pre-dial handler, read by `inbound`)
ORDER_HEADER, CALLER_HEADER, LANE_HEADER = "X-Linkdesk-Order", "X-Linkdesk-Caller", "X-Linkdesk-Lane"

# The dialplan reports each step of a transfer with this UserEvent, and the receiver's accept with the other
TRANSFER_EVENT = "LinkdeskTransfer"
WHISPER_EVENT = "LinkdeskWhisper"
# … and Asterisk reports a phone's attended transfer (SIP REFER with Replaces) with this event
ATTENDED_TRANSFER_EVENT = "AttendedTransfer"
CONSULT_FROM = "LINKDESK_CONSULT_FROM"  # the consultation call's own endpoint: another one there later is the citizen

# LINKDESK_STAMP's fields, in order, joined by `|`
STAMP_FIELDS = ("transfer_id", "order_id", "caller", "return_to", "return_queue", "answer_timeout", "target",
                "lane")


def inherited(variable: str) -> str:
    """The name that makes every channel the channel creates inherit `variable` too."""
    return f"__{variable}"


def channel_variables(event: dict, prefix: str = "") -> dict[str, str]:
    """An AMI event's `ChanVariable` headers (manager.conf `channelvars`), as a
    dict; `prefix`: those of one of its channels (`SecondTransfererChanVariable`)."""
    found = event.get(f"{prefix}ChanVariable") or []
    return dict(pair.partition("=")[::2] for pair in ([found] if isinstance(found, str) else found))
