"""The PBX operations the transfer service needs, done over AMI."""

from __future__ import annotations

from ami.actions import AmiActionFailed, AmiActions
from ami.connection import AmiConnection

# What the service learns of the citizen's channel: its id, its number and
# presentation, and the queue and operator it came through (for the return).
FACTS = (("uniqueid", "UNIQUEID"), ("caller", "CALLERID(num)"), ("presentation", "CALLERID(num-pres)"),
         ("queue", "QUEUENAME"), ("member", "MEMBERINTERFACE"))


class AmiPbxControl:
    def __init__(self, connection: AmiConnection):
        self.actions = AmiActions(connection)

    async def channel_facts(self, channel: str) -> dict[str, str]:
        """The FACTS of a live channel; {} when there is no such channel."""
        facts = {}
        for key, variable in FACTS:
            try:
                facts[key] = await self.actions.getvar(channel, variable) or ""
            except AmiActionFailed:
                return {}
        return facts

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

    async def stamp(self, channel: str, variables: dict[str, str]) -> None:
        for name, value in variables.items():
            await self.actions.setvar(channel, name, value)

    async def redirect(self, channel: str, context: str, exten: str) -> None:
        await self.actions.redirect(channel, context, exten)

    async def take_outcome(self, transfer_id: str) -> str:
        """What the dialplan recorded for a transfer (`answered`, `failed:<DIALSTATUS>`)
        in a global variable, cleared once read; '' if nothing yet. (Globals,
        not astdb: Asterisk refuses DB() to AMI as a dangerous function.)"""
        name = f"LINKDESK_OUTCOME_{transfer_id}"
        reply = await self.actions.connection.send({"Action": "Getvar", "Variable": name})
        outcome = reply.get("Value") or "" if reply.get("Response") == "Success" else ""
        if outcome:
            await self.actions.connection.send({"Action": "Setvar", "Variable": name, "Value": ""})
        return outcome
