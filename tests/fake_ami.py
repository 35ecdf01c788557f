"""A scripted AMI peer on 127.0.0.1 for fault injection: it can refuse logins,
leave actions unanswered, go silent (half-open), or drop the connection; it
can answer an action as a test scripts it, and hold its replies back."""

from __future__ import annotations

import asyncio
from typing import Callable

FULLY_BOOTED = "Event: FullyBooted\nPrivilege: system,all\nStatus: Fully Booted\n\n"


class FakeAmi:
    def __init__(self, secret: str = "s3cret"):
        self.secret = secret
        self.silent = False              # read, never answer (a half-open link)
        self.unanswered = {"Originate"}  # actions that never get a reply
        self.booted = True               # False: logins succeed, FullyBooted comes later
        self.messages: dict[str, str] = {}  # action name → the Message of its Success reply
        self.received: list[dict] = []
        self.frames: list[bytes] = []    # each action's bytes, as received (repeated headers and all)
        # action name → its reply's text, made from the action (ActionID included);
        # an action in `unanswered` still gets none.
        self.replies: dict[str, Callable[[dict], str]] = {}
        self.holding = False             # True: replies wait for release()
        self.close_on_refusal = False    # True: close right after refusing a login, as Asterisk does
        self._held: list[tuple[asyncio.StreamWriter, str]] = []
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._server = None

    async def start(self, ssl=None) -> int:
        """Listen on a free loopback port (over TLS with the `ssl` server context); the port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=ssl)
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.drop_all()
        self._server.close()
        await self._server.wait_closed()

    def drop_all(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    def release(self) -> None:
        """Stop holding replies; write the held ones, in the order they were made."""
        self.holding = False
        held, self._held = self._held, []
        for writer, text in held:
            if not writer.is_closing():
                writer.write(text.replace("\n", "\r\n").encode())

    def send(self, text: str) -> None:
        for writer in self._writers:
            writer.write(text.replace("\n", "\r\n").encode())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        try:
            while frame := await reader.readuntil(b"\r\n\r\n"):
                action = dict(line.split(": ", 1) for line in frame.decode().split("\r\n") if ": " in line)
                self.received.append(action)
                self.frames.append(frame)
                if self.holding and not self.silent:
                    self._held.append((writer, self._reply(action)))
                elif not self.silent:
                    reply = self._reply(action)
                    writer.write(reply.replace("\n", "\r\n").encode())
                    if self.close_on_refusal and "Authentication failed" in reply:
                        writer.close()
                        return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    def _reply(self, action: dict) -> str:
        name, action_id = action.get("Action"), action.get("ActionID")
        if name in self.unanswered:
            return ""
        if name in self.replies:
            return self.replies[name](action)
        if name == "Login":
            if action.get("Secret") != self.secret:
                return f"Response: Error\nActionID: {action_id}\nMessage: Authentication failed\n\n"
            accepted = f"Response: Success\nActionID: {action_id}\nMessage: Authentication accepted\n\n"
            return accepted + (FULLY_BOOTED if self.booted else "")
        if name == "Ping":
            return f"Response: Success\nActionID: {action_id}\nPing: Pong\n\n"
        return f"Response: Success\nActionID: {action_id}\nMessage: {self.messages.get(name, 'ok')}\n\n"
