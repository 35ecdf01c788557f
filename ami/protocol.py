"""panoramisk's AMIProtocol with linkdesk's intake: fast framing, events to
the event bus, and actions in flight failed at once when the link drops
(panoramisk would hold them for a resend after the next FullyBooted); and
its Action, made safe for the replies it misreads."""

from __future__ import annotations

import logging

from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from linkdesk.ami.wire import AmiError, FrameParser

log = logging.getLogger("linkdesk.ami")


class AmiConnectionLost(AmiError):
    reason = "ami-connection-lost"


class AmiReplyUnreadable(AmiError):
    reason = "ami-reply-unreadable"


class AmiAction(Action):
    """panoramisk's Action, safe for a reply that says "successfully queued"
    to an action without an Async header (Atxfer's does): panoramisk asks for
    that header, and its KeyError, raised inside data_received, dropped the
    whole AMI link with every action in flight (found in the lab)."""

    @property
    def multi(self) -> bool:
        reply = self.responses[0]
        if "async" not in self and reply.message.lower().endswith("successfully queued"):
            return reply.subevent == "Start" or reply.get("EventList") == "start"
        return super().multi


class AmiProtocol(AMIProtocol):
    """Frames with FrameParser; replies go to panoramisk's action futures."""

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.parser = FrameParser()

    def data_received(self, data: bytes) -> None:
        for message in self.parser.feed(data):
            action_id = message.get("ActionID")
            if action_id is not None and action_id in self.responses:
                self._reply(action_id, message)
            elif "Event" in message:
                self.factory.dispatch_event(message)
            # else: the reply to an action that already timed out; dropped.

    def _reply(self, action_id: str, message) -> None:
        try:
            self.handle_message(Message(message))
        except Exception:
            # One reply we cannot read fails its own action, never the link.
            log.exception("AMI reply to %s could not be read", action_id)
            action = self.responses.pop(action_id, None)
            if action is not None and not action.future.done():
                action.future.set_exception(AmiReplyUnreadable(f"{action['Action']}: reply could not be read"))

    def connection_lost(self, exc) -> None:
        self._fail_in_flight(f"AMI connection lost: {exc or 'closed'}")
        if not self.closed:
            self.closed = True
            self.factory.connection_lost(exc)

    def close(self) -> None:
        self._fail_in_flight("AMI connection closed")
        if not self.closed:
            self.closed = True
            self.transport.close()
            self.factory.connection_lost(None)

    def forget(self, action_id: str) -> None:
        """Stop waiting for an action's reply (it timed out)."""
        self.responses.pop(action_id, None)

    def _fail_in_flight(self, why: str) -> None:
        pending, self.responses = list(self.responses.values()), {}
        for action in pending:
            if not action.future.done():
                action.future.set_exception(AmiConnectionLost(f"{why}; {action['Action']} not answered"))
