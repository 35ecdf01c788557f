"""Typed helpers for every AMI action linkdesk sends; each checks its reply.

Values are checked for CR/LF/NUL before anything is sent (ami.wire); a reply
other than Success raises AmiActionFailed with Asterisk's message.
"""

from __future__ import annotations

import re
from typing import Mapping

from linkdesk.ami.connection import AmiConnection
from linkdesk.ami.wire import AmiError, UnsafeAmiValue


class AmiActionFailed(AmiError):
    reason = "ami-action-failed"


class AmiActions:
    def __init__(self, connection: AmiConnection):
        self.connection = connection

    async def originate(self, channel: str, *, context: str | None = None, exten: str | None = None,
                        priority: int = 1, application: str | None = None, data: str | None = None,
                        caller_id: str | None = None, variables: Mapping[str, str] | None = None,
                        channel_id: str | None = None, sip_headers: Mapping[str, str] | None = None,
                        timeout: float = 30.0):
        """Place a call and wait for Asterisk's OriginateResponse (answered or failed).

        `sip_headers` go on the new channel's INVITE. They travel as
        `PJSIP_HEADER(add,…)` variables, which Asterisk sets on the channel
        before it dials; Originate's `PreDialGoSub` would be the other way,
        but Asterisk 22.10 ignores it (lab-tested, async and sync)."""
        action = {"Action": "Originate", "Channel": channel, "Async": "true",
                  "Timeout": str(int(timeout * 1000))}
        if application:
            action.update(Application=application, Data=data or "")
        else:
            action.update(Context=context or "", Exten=exten or "s", Priority=str(priority))
        _put(action, CallerID=caller_id, ChannelId=channel_id)
        pairs = [*(variables or {}).items(), *_header_variables(sip_headers or {})]
        if pairs:
            action["Variable"] = [f"{name}={value}" for name, value in pairs]
        replies = await self.connection.send(action, timeout=timeout + 5)
        outcome = replies[-1] if isinstance(replies, list) else replies
        if outcome.get("Response") != "Success":
            raise AmiActionFailed(f"Originate {channel}: {outcome.get('Reason') or outcome.get('Message')}")
        return outcome

    async def redirect(self, channel: str, context: str, exten: str, priority: int = 1, *,
                       extra_channel: str | None = None, extra_context: str | None = None,
                       extra_exten: str | None = None, extra_priority: int | None = None):
        action = {"Action": "Redirect", "Channel": channel, "Context": context, "Exten": exten,
                  "Priority": str(priority)}
        _put(action, ExtraChannel=extra_channel, ExtraContext=extra_context, ExtraExten=extra_exten,
             ExtraPriority=None if extra_priority is None else str(extra_priority))
        return await self._ok(action)

    async def setvar(self, channel: str, variable: str, value: str):
        return await self._ok({"Action": "Setvar", "Channel": channel, "Variable": variable, "Value": value})

    async def getvar(self, channel: str, variable: str) -> str | None:
        reply = await self._ok({"Action": "Getvar", "Channel": channel, "Variable": variable})
        return reply.get("Value") or None

    async def channel_variables(self, channel: str, names: list[str]) -> dict[str, str]:
        """Variables and functions of one channel in one Status action
        (`Variables:`); AmiActionFailed when there is no such channel."""
        events = await self._list({"Action": "Status", "Channel": channel, "Variables": ",".join(names)},
                                  "StatusComplete")
        if not events:
            raise AmiActionFailed(f"Status: no channel {channel!r}")
        found = events[0].get("Variable") or []
        pairs = [found] if isinstance(found, str) else found
        return dict(pair.partition("=")[::2] for pair in pairs)

    async def hangup(self, channel: str, cause: int | None = None):
        action = {"Action": "Hangup", "Channel": channel}
        _put(action, Cause=None if cause is None else str(cause))
        return await self._ok(action)

    async def queue_status(self, queue: str | None = None) -> list:
        """QueueParams, QueueMember and QueueEntry events, in Asterisk's order."""
        action = {"Action": "QueueStatus"}
        _put(action, Queue=queue)
        return await self._list(action, "QueueStatusComplete")

    async def confbridge_list(self, conference: str) -> list:
        """ConfbridgeList events; [] when the conference does not exist (any more)."""
        return await self._list({"Action": "ConfbridgeList", "Conference": conference},
                                "ConfbridgeListComplete", empty_message="No active conferences")

    async def confbridge_list_rooms(self) -> list:
        """ConfbridgeListRooms events; [] when no conference runs."""
        return await self._list({"Action": "ConfbridgeListRooms"}, "ConfbridgeListRoomsComplete",
                                empty_message="No active conferences")

    async def confbridge_kick(self, conference: str, channel: str):
        return await self._ok({"Action": "ConfbridgeKick", "Conference": conference, "Channel": channel})

    async def confbridge_mute(self, conference: str, channel: str):
        return await self._ok({"Action": "ConfbridgeMute", "Conference": conference, "Channel": channel})

    async def confbridge_unmute(self, conference: str, channel: str):
        return await self._ok({"Action": "ConfbridgeUnmute", "Conference": conference, "Channel": channel})

    async def core_show_channels(self) -> list:
        return await self._list({"Action": "CoreShowChannels"}, "CoreShowChannelsComplete")

    async def _ok(self, action: dict):
        reply = await self.connection.send(action)
        first = reply[0] if isinstance(reply, list) else reply
        if first.get("Response") != "Success":
            raise AmiActionFailed(f"{action['Action']}: {first.get('Message') or 'failed'}")
        return first

    async def _list(self, action: dict, complete: str, empty_message: str | None = None) -> list:
        reply = await self.connection.send(action)
        if not isinstance(reply, list):
            if empty_message and empty_message in (reply.get("Message") or ""):
                return []
            if reply.get("Response") != "Success":
                raise AmiActionFailed(f"{action['Action']}: {reply.get('Message') or 'failed'}")
            return []
        return [m for m in reply[1:] if m.get("Event") and m.get("Event") != complete]


_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")


def _header_variables(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """`X-Name: value` as the variable that adds it to the channel's INVITE."""
    for name in headers:
        if not _HEADER_NAME.fullmatch(name):
            raise UnsafeAmiValue(f"not a SIP header name: {name[:64]!r}; nothing was sent")
    return [(f"PJSIP_HEADER(add,{name})", value) for name, value in headers.items()]


def _put(action: dict, **optional: str | None) -> None:
    action.update({key: value for key, value in optional.items() if value is not None})
