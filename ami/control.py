"""The PBX operations the transfer service needs, done over AMI."""

from __future__ import annotations

import asyncio

from linkdesk.ami.actions import AmiActionFailed, AmiActions
from linkdesk.ami.connection import AmiConnection
from linkdesk.bridge.core.transfer_model import Move
from linkdesk.dialplan.contract import BRIDGE_PROFILE, CONFERENCE_DIAL, MENU, OPERATOR_PROFILE, OUTCOME_PREFIX


# What the service learns of the citizen's channel: its id, its number and
# presentation, and the queue and operator it came through (for the return).
FACTS = (("uniqueid", "UNIQUEID"), ("linkedid", "CHANNEL(linkedid)"), ("caller", "CALLERID(num)"),
         ("presentation", "CALLERID(num-pres)"), ("queue", "QUEUENAME"), ("member", "MEMBERINTERFACE"),
         ("name", "CALLERID(name)"))


# OriginateResponse Reason codes (Asterisk's AST_CONTROL_*) as Dial would say them.
_ORIGINATE_REASONS = {"3": "NOANSWER", "5": "BUSY", "8": "CONGESTION", "1": "CANCEL", "0": "CHANUNAVAIL"}


class AmiPbxControl:
    def __init__(self, connection: AmiConnection):
        self.actions = AmiActions(connection)

    def linked(self) -> bool:
        return self.actions.connection.logged_in

    async def channel_facts(self, channel: str) -> dict[str, str]:
        """The FACTS of a live channel, and under `channel` its name; {} when
        there is no such channel. One Status action with its Variables list.
        When `channel` is the far half of a Local channel pair (a queue member
        such as FreePBX's Local/1101@from-queue/n, bridged with the operator's
        phone), the facts are those of the channel bridged with the near half:
        the citizen."""
        try:
            channel = await self._behind_local(channel)
            values = await self.actions.channel_variables(channel, [variable for _, variable in FACTS])
        except AmiActionFailed:
            return {}
        # Asterisk prints an unset variable as "(null)".
        facts = {key: "" if values.get(variable) in (None, "(null)") else values[variable]
                 for key, variable in FACTS}
        return {**facts, "channel": channel}

    async def channel_variables(self, channel: str, names: list[str]) -> dict[str, str]:
        """Those variables of a live channel ('' for an unset one), in one Status action; {} when it is gone."""
        try:
            values = await self.actions.channel_variables(channel, names)
        except AmiActionFailed:
            return {}
        return {name: "" if values.get(name) in (None, "(null)") else values[name] for name in names}

    async def _behind_local(self, channel: str) -> str:
        if not (channel.startswith("Local/") and channel.endswith(";2")):
            return channel
        near = channel[:-1] + "1"
        peer = (await self.actions.channel_variables(near, ["BRIDGEPEER"])).get("BRIDGEPEER", "")
        return peer if peer and peer != "(null)" else channel

    async def bridged_call(self, operator: str) -> tuple[str, str] | None:
        """(operator's channel, the channel bridged with it) for extension `operator`."""
        channels = await self.actions.core_show_channels()
        mine = [c for c in channels if c.get("Channel", "").startswith(f"PJSIP/{operator}-") and c.get("BridgeId")]
        for channel in mine:
            peer = next((c for c in channels if c.get("BridgeId") == channel["BridgeId"]
                         and c["Channel"] != channel["Channel"]), None)
            if peer is not None:
                return channel["Channel"], peer["Channel"]
        return None

    async def hand_over(self, stamps: list[tuple[str, str, str]], move: Move | None) -> None:
        """Set each (channel, variable, value), then, if given, make the move
        (a Redirect, of two channels at once with `extra_*`). All are written before any reply is awaited
        (gather starts them in order, and each writes at its first step);
        Asterisk runs one AMI session's actions in order, so the move never
        overtakes its stamps, and the whole costs one round trip."""
        steps = [self.actions.setvar(channel, name, value) for channel, name, value in stamps]
        if move is not None:
            steps.append(self.actions.redirect(
                move.channel, move.context, move.exten, extra_channel=move.extra_channel,
                extra_context=move.context if move.extra_channel else None, extra_exten=move.extra_exten,
                extra_priority=1 if move.extra_channel else None))
        await asyncio.gather(*steps)

    async def left_context(self, channel: str, context: str, timeout: float, pause: float = 0.005) -> bool:
        """Poll the channel's context (one Status each, `pause` apart) until it
        is no longer `context`; False if the channel is gone or `timeout` passes."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                values = await self.actions.channel_variables(channel, ["CHANNEL(context)"])
            except AmiActionFailed:
                return False
            if values.get("CHANNEL(context)") != context:
                return True
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(pause)

    async def call_into_room(self, exten: str, room: str, caller: str, variables: dict[str, str],
                             timeout: int, channel_id: str, via: str = CONFERENCE_DIAL) -> tuple[str, str]:
        """Call `exten` through context `via` as `caller`; when it
        answers, its channel joins ConfBridge `room` as an operator (it does
        so in Asterisk, whether linkdesk is still there or not).
        (channel, "ANSWER"), or ("", reason) when it does not answer."""
        try:
            outcome = await self.actions.originate(
                f"Local/{exten}@{via}/n", application="ConfBridge",
                data=f"{room},{BRIDGE_PROFILE},{OPERATOR_PROFILE},{MENU}", caller_id=caller,
                variables=variables, timeout=timeout, channel_id=channel_id)
        except AmiActionFailed as exc:
            return "", _ORIGINATE_REASONS.get(str(exc).rsplit(": ", 1)[-1], "CHANUNAVAIL")
        return outcome.get("Channel", ""), "ANSWER"

    async def conference_listing(self) -> dict[str, list[dict]]:
        """Every ConfBridge room and its ConfbridgeList entries."""
        rooms = [room["Conference"] for room in await self.actions.confbridge_list_rooms()]
        listings = await asyncio.gather(*(self.actions.confbridge_list(room) for room in rooms))
        return {room: [dict(entry) for entry in listing] for room, listing in zip(rooms, listings)}

    async def kick(self, room: str, channel: str) -> None:
        await self.actions.confbridge_kick(room, channel)

    async def mute(self, room: str, channel: str, muted: bool) -> None:
        await (self.actions.confbridge_mute if muted else self.actions.confbridge_unmute)(room, channel)

    async def channel_named(self, uniqueid: str) -> str | None:
        """The name of the live channel with this uniqueid, or None."""
        for channel in await self.actions.core_show_channels():
            if channel.get("Uniqueid") == uniqueid:
                return channel["Channel"]
        return None

    async def hangup_uniqueid(self, uniqueid: str) -> None:
        """Hang up the channel with this uniqueid, if it is still there."""
        name = await self.channel_named(uniqueid)
        if name is not None:
            await self.actions.hangup(name)

    async def take_outcome(self, transfer_id: str) -> str:
        """What the dialplan recorded for a transfer (`answered`, `failed:<DIALSTATUS>`)
        in a global variable, cleared once read; '' if nothing yet. (Globals,
        not astdb: Asterisk refuses DB() to AMI as a dangerous function.)"""
        name = f"{OUTCOME_PREFIX}{transfer_id}"
        reply = await self.actions.connection.send({"Action": "Getvar", "Variable": name})
        outcome = reply.get("Value") or "" if reply.get("Response") == "Success" else ""
        if outcome:
            await self.actions.connection.send({"Action": "Setvar", "Variable": name, "Value": ""})
        return outcome
