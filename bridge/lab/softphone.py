"""A small SIP softphone for what one sipp scenario cannot do: two calls at
once on one phone, as an attended transfer needs (the citizen's call on
hold, a consultation call, then a REFER with Replaces in the first).

It registers (digest), answers the PBX's calls after `answer_after` s,
answers qualify pings, re-INVITEs, NOTIFYs and BYEs by itself, on its own
thread (so it still answers while a test's teardown blocks the event loop),
and places calls, holds, REFERs, CANCELs and BYEs when told. Everything it
sends and receives is kept in `log` for the test to read. 127.0.0.1, UDP.
"""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import quote

from linkdesk.bridge.lab.layout import Operator
from linkdesk.bridge.lab.phones import free_udp_port
from linkdesk.bridge.lab.sipmsg import (Dialog, Message, Pending as _Pending, branch, digest, md5_challenge,
                                        new_tag, parse, response, sdp, tag_of, uri_of)

RETRANSMIT_EVERY, RETRANSMITS = 0.5, 6


class Softphone:
    def __init__(self, operator: Operator, answer_after: float = 0.3, media_port: int = 0):
        self.op, self.answer_after, self.media_port = operator, answer_after, media_port or free_udp_port()
        self.pbx = (operator.registrar_host, operator.registrar_port)
        self.contact = f"<sip:{operator.extension}@127.0.0.1:{operator.sip_port}>"
        self.dialogs: list[Dialog] = []
        self.log: list[str] = []
        self.registered = 0
        self._pending: dict[tuple[str, int, str], _Pending] = {}
        self._unacked: dict[str, _Pending] = {}
        self._version = 1
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", operator.sip_port))
        self.sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._run, name=f"softphone-{operator.extension}", daemon=True)
        self._thread.start()

    # -- what a test does -------------------------------------------------
    def register(self, expires: int = 3600) -> None:
        """Send a REGISTER of this phone's contact; `registered` is its final status."""
        aor = f"sip:{self.op.extension}@{self.pbx[0]}:{self.pbx[1]}"
        request = self._request("REGISTER", f"sip:{self.pbx[0]}:{self.pbx[1]}", f"<{aor}>;tag={new_tag()}",
                                f"<{aor}>", new_tag() + "@linkdesk-lab", 1, [("Expires", str(expires))])
        self._send_request(request, None)

    def call(self, number: str) -> Dialog:
        """Place a call to `number` at the PBX; the Dialog's state tells how it goes."""
        uri = f"sip:{number}@{self.pbx[0]}:{self.pbx[1]}"
        me = f'"{self.op.extension}" <sip:{self.op.extension}@{self.pbx[0]}:{self.pbx[1]}>;tag={new_tag()}'
        dialog = Dialog(new_tag() + "@linkdesk-lab", me, f"<{uri}>", uri, incoming=False)
        with self._lock:
            self.dialogs.append(dialog)
        self._send_request(self._in_dialog(dialog, "INVITE", body=self._sdp(), uri=uri, cseq=dialog.cseq), dialog)
        return dialog

    def hold(self, dialog: Dialog) -> int:
        """Put the call on hold (a re-INVITE, a=sendonly); returns its CSeq."""
        return self._send_in_dialog(dialog, "INVITE", body=self._sdp("sendonly"))

    def refer(self, dialog: Dialog, number: str, replaces: Dialog | None = None) -> int:
        """The phone's Transfer button, in `dialog`: to `number`, attended
        (Replaces `replaces`, a call of this phone) or blind; returns its CSeq."""
        target = f"sip:{number}@{self.pbx[0]}:{self.pbx[1]}"
        if replaces is not None:
            # Replaces names the dialog from the side that receives the INVITE with it (the PBX).
            ids = f"{replaces.call_id};to-tag={replaces.remote_tag};from-tag={replaces.local_tag}"
            target += "?Replaces=" + quote(ids, safe="")
        return self._send_in_dialog(dialog, "REFER", [("Refer-To", f"<{target}>"),
                                                      ("Referred-By", f"<sip:{self.op.extension}@{self.pbx[0]}>")])

    def cancel(self, dialog: Dialog) -> None:
        """Give up a call that still rings (CANCEL of our INVITE)."""
        with self._lock:
            invite = next(p.request for k, p in self._pending.items() if k[0] == dialog.call_id and k[2] == "INVITE")
        headers = [(k, v) for k, v in invite.headers if k in ("Via", "From", "To", "Call-ID")]
        headers += [("CSeq", f"{invite.cseq[0]} CANCEL"), ("Max-Forwards", "70")]
        self._send_request(Message(f"CANCEL {invite.start.split(' ')[1]} SIP/2.0", headers), dialog)

    def bye(self, dialog: Dialog) -> int:
        dialog.state = "ended"
        return self._send_in_dialog(dialog, "BYE")

    def incoming(self) -> list[Dialog]:
        with self._lock:
            return [d for d in self.dialogs if d.incoming]

    def messages(self) -> str:
        with self._lock:
            return "\n\n".join(self.log)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    # -- building and sending ---------------------------------------------
    def _request(self, method: str, uri: str, from_: str, to: str, call_id: str, cseq: int,
                 extra: list[tuple[str, str]] = (), body: str = "") -> Message:
        headers = [("Via", f"SIP/2.0/UDP 127.0.0.1:{self.op.sip_port};rport;branch={branch()}"),
                   ("Max-Forwards", "70"), ("From", from_), ("To", to), ("Call-ID", call_id),
                   ("CSeq", f"{cseq} {method}"), ("Contact", self.contact),
                   ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, REFER, INFO"),
                   ("User-Agent", "linkdesk-lab-softphone"), *extra]
        if body:
            headers.append(("Content-Type", "application/sdp"))
        return Message(f"{method} {uri} SIP/2.0", headers, body)

    def _in_dialog(self, dialog: Dialog, method: str, extra=(), body: str = "", uri: str = "",
                   cseq: int | None = None) -> Message:
        return self._request(method, uri or dialog.target, dialog.local, dialog.remote, dialog.call_id,
                             dialog.cseq if cseq is None else cseq, list(extra), body)

    def _send_in_dialog(self, dialog: Dialog, method: str, extra=(), body: str = "") -> int:
        with self._lock:
            dialog.cseq += 1
            cseq = dialog.cseq
        self._send_request(self._in_dialog(dialog, method, extra, body), dialog)
        return cseq

    def _send_request(self, request: Message, dialog: Dialog | None) -> None:
        data = request.text().encode()
        with self._lock:
            if request.method != "ACK":
                self._pending[(request.call_id, request.cseq[0], request.method)] = _Pending(
                    data, dialog, request, time.monotonic())
            self._send(data)

    def _send(self, data: bytes, to: tuple[str, int] | None = None) -> None:
        self.log.append(f"sent:\n{data.decode(errors='replace')}")
        self.sock.sendto(data, to or self.pbx)

    def _sdp(self, direction: str = "sendrecv") -> str:
        self._version += 1
        return sdp(self.media_port, self._version, direction)

    # -- the phone's own thread -------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(65535)
            except socket.timeout:
                data = b""
            except OSError:
                return
            with self._lock:
                message = parse(data) if data.strip() else None
                if message is not None:
                    self.log.append(f"received:\n{data.decode(errors='replace')}")
                    (self._on_request if message.is_request else self._on_response)(message, source)
                self._retransmit()

    def _retransmit(self) -> None:
        now = time.monotonic()
        for pending in [*self._pending.values(), *self._unacked.values()]:
            if not pending.answered and pending.tries < RETRANSMITS and now - pending.sent_at > RETRANSMIT_EVERY:
                pending.tries, pending.sent_at = pending.tries + 1, now
                self._send(pending.data)

    def _on_response(self, message: Message, source) -> None:
        key = (message.call_id, message.cseq[0], message.method)
        pending = self._pending.get(key)
        if message.method == "INVITE" and message.status >= 200:
            self._ack(message, pending)
        if pending is None:
            return
        pending.answered = True
        if message.status < 200:
            self._early(pending.dialog, message)
            return
        del self._pending[key]
        if message.status in (401, 407) and "Authorization" not in dict(pending.request.headers) \
                and "Proxy-Authorization" not in dict(pending.request.headers):
            self._authenticate(pending, message)
        elif message.method == "REGISTER":
            self.registered = message.status
        elif message.method == "INVITE" and pending.dialog is not None:
            self._invite_answered(pending.dialog, message)
        elif pending.dialog is not None:
            pending.dialog.replies[message.cseq[0]] = message.status

    def _authenticate(self, pending: _Pending, challenge: Message) -> None:
        request = pending.request
        header = "Authorization" if challenge.status == 401 else "Proxy-Authorization"
        uri = request.start.split(" ")[1]
        answer = digest(md5_challenge(challenge), request.method, uri, self.op.extension, self.op.password)
        cseq = request.cseq[0] + 1
        if pending.dialog is not None:
            pending.dialog.cseq = cseq
        headers = [(k, v) for k, v in request.headers if k not in ("Via", "CSeq")]
        headers = [("Via", f"SIP/2.0/UDP 127.0.0.1:{self.op.sip_port};rport;branch={branch()}"),
                   ("CSeq", f"{cseq} {request.method}"), *headers, (header, answer)]
        self._send_request(Message(request.start, headers, request.body), pending.dialog)

    def _early(self, dialog: Dialog | None, message: Message) -> None:
        if dialog is not None and dialog.state == "calling" and tag_of(message.get("To")):
            dialog.remote, dialog.state = message.get("To"), "early"

    def _invite_answered(self, dialog: Dialog, message: Message) -> None:
        if dialog.state not in ("calling", "early") or message.cseq[0] != dialog.cseq:
            dialog.replies[message.cseq[0]] = message.status     # a re-INVITE's answer
            return
        dialog.final = message.status
        if message.status < 300:
            dialog.remote, dialog.state = message.get("To"), "confirmed"
            dialog.target = uri_of(message.get("Contact")) or dialog.target
        else:
            dialog.state = "failed"

    def _ack(self, message: Message, pending: _Pending | None) -> None:
        """ACK a final answer to an INVITE: a 2xx in the dialog (new branch), any other in its transaction."""
        number = message.cseq[0]
        if message.status < 300:
            dialog = next((d for d in self.dialogs if d.call_id == message.call_id), None)
            if dialog is None:
                return
            target = uri_of(message.get("Contact")) or dialog.target
            self._send(self._request("ACK", target, dialog.local, message.get("To"), dialog.call_id,
                                     number).text().encode())
        elif pending is not None:
            request = pending.request
            headers = [("Via", request.get("Via")), ("Max-Forwards", "70"), ("From", request.get("From")),
                       ("To", message.get("To")), ("Call-ID", request.call_id), ("CSeq", f"{number} ACK")]
            self._send(Message(f"ACK {request.start.split(' ')[1]} SIP/2.0", headers).text().encode())

    def _on_request(self, message: Message, source) -> None:
        method = message.method
        dialog = next((d for d in self.dialogs if d.call_id == message.call_id), None)
        if method == "ACK":
            if self._unacked.pop(message.call_id, None) is not None and dialog is not None:
                dialog.state = "confirmed" if dialog.state == "early" else dialog.state
            return
        if method == "INVITE" and dialog is None:
            self._ring(message, source)
            return
        if method == "INVITE" and dialog.incoming and dialog.state == "early":
            return      # a retransmission: it rings already
        if method == "CANCEL" and dialog is not None:
            dialog.state = "ended"
            self._unacked.pop(message.call_id, None)
            self._send(response(message, 200, "OK").text().encode(), source)
            self._send(response(message, 487, "Request Terminated", dialog.local_tag, method="INVITE").text().encode(),
                       source)
            return
        to_tag = dialog.local_tag if dialog is not None else new_tag()
        body = self._sdp() if method == "INVITE" else ""
        if method == "BYE" and dialog is not None:
            dialog.state = "ended"
        if method == "NOTIFY" and dialog is not None:
            dialog.notifies.append(message.body)
        self._send(response(message, 200, "OK", to_tag, self.contact, body=body).text().encode(), source)

    def _ring(self, invite: Message, source) -> None:
        """A new call: 180 at once, 200 after `answer_after` s (from a timer thread)."""
        tag = new_tag()
        dialog = Dialog(invite.call_id, f"{invite.get('To')};tag={tag}", invite.get("From"),
                        uri_of(invite.get("Contact")), incoming=True, state="early")
        self.dialogs.append(dialog)
        self._send(response(invite, 180, "Ringing", tag, self.contact).text().encode(), source)
        ok = response(invite, 200, "OK", tag, self.contact, body=self._sdp()).text().encode()

        def answer() -> None:
            with self._lock:
                if dialog.state == "early" and not self._stop.is_set():
                    self._unacked[invite.call_id] = _Pending(ok, dialog, invite, time.monotonic())
                    self._send(ok, source)
        threading.Timer(self.answer_after, answer).start()
