"""linkdesk's one error vocabulary.

Every refusal or failure linkdesk reports is a `LinkdeskError` with a stable
`reason` id. HTTP answers with the id's one status (`http_status`), the
dialplan sees it as LINKDESK_REASON, and the log line names it: the three
always agree. Library errors (panoramisk, sqlite3) are converted into these
at the boundary where they are caught. The README's table of ids is checked
against `REASONS` by a test.
"""

from __future__ import annotations

INTERNAL = "internal-error"
STORE_UNAVAILABLE = "store-unavailable"

# id → (HTTP status, what it means). One status per id, whoever reports it.
REASONS: dict[str, tuple[int, str]] = {
    # requests
    "auth-missing": (401, "no `Authorization: Bearer` token"),
    "auth-invalid": (401, "the token belongs to no platform"),
    "auth-scope": (403, "the token lacks the scope this resource needs"),
    "events-bad-last-id": (400, "Last-Event-ID is not an event id"),
    "bad-field": (400, "a field is missing, unknown, too long, or holds CR, LF or NUL"),
    "body-not-json": (400, "the body is not a JSON object"),
    "body-too-large": (413, "the body is over 64 KiB"),
    "bad-idempotency-key": (400, "the Idempotency-Key is not 1–128 characters without CR, LF or NUL"),
    "idempotency-key-reused": (422, "the Idempotency-Key was used for another request"),
    "method-not-allowed": (405, "no such method on this resource"),
    "not-found": (404, "no such resource"),
    "service-draining": (503, "linkdesk is stopping (SIGTERM): the request was not taken; send it again shortly"),
    "caller-number-invalid": (422, "the citizen's number is not a telephone number"),
    INTERNAL: (500, "an unexpected failure (logged with its traceback)"),
    STORE_UNAVAILABLE: (503, "the store could not be reached or refused the write: nothing was done; "
                             "send it again shortly"),
    # transfers
    "transfer-not-found": (404, "no such transfer for this platform"),
    "transfer-conflict": (409, "the call already has an active transfer"),
    "transfer-not-bridged": (409, "the operator is in no call, or the citizen's channel is gone"),
    "transfer-not-operator": (403, "the key was pressed on a channel that is not an operator's"),
    "transfer-not-active": (409, "the call or room has no transfer to cancel"),
    "transfer-not-cancellable": (409, "the citizen has already been handed over (or the transfer is blind)"),
    "transfer-pbx-unknown": (400, "no such PBX"),
    "transfer-target-unknown": (400, "the PBX cannot transfer to that target on that lane"),
    "transfer-bad-arguments": (400, "mode, lane or the operator's call are missing or wrong"),
    "whisper-not-receiver": (403, "a whisper key from a channel that is not the handed-over call's receiver"),
    "transfer-action-failed": (502, "the PBX refused an action of the transfer"),
    # conferences and linkage units
    "conference-not-found": (404, "no such conference for this platform"),
    "conference-participant-unknown": (404, "no such participant in the conference"),
    "conference-ended": (409, "the conference has ended"),
    "conference-not-a-participant": (409, "no operator of this platform is in the conference"),
    "conference-action-failed": (502, "the PBX refused a conference action, or the call-out failed"),
    "unit-not-found": (404, "no such linkage unit in the directory"),
    # orders and webhooks
    "order-not-found": (404, "no such order for this platform"),
    "order-forbidden": (403, "only the addressee may do that"),
    "order-illegal-move": (409, "the order's state does not allow that"),
    "order-version-conflict": (409, "the order has moved on: the answer carries its current version"),
    "order-bad-field": (400, "an order field is missing or wrong"),
    "webhook-bad-field": (400, "the webhook's url (the URL policy), secret or secrets are wrong"),
    # the PBX link (AMI)
    "ami-not-connected": (503, "the PBX's AMI link is down: nothing was sent"),
    "ami-connection-lost": (503, "the AMI link dropped while the action was in flight"),
    "ami-action-timeout": (504, "the PBX did not answer the action in time"),
    "ami-action-failed": (502, "the PBX refused the action"),
    "ami-reply-unreadable": (502, "the PBX's reply could not be read"),
    "ami-unsafe-value": (400, "a value holds CR, LF or NUL (or is not DTMF digits): nothing was sent"),
    "ami-error": (502, "another AMI failure"),
    # the dialplan (AGI)
    "agi-unknown-route": (404, "no such AGI route"),
    "agi-bad-arguments": (400, "the route's arguments are missing or wrong"),
    "agi-bad-environment": (400, "the agi_* block is malformed"),
    "agi-unsafe-value": (400, "a value holds CR, LF or NUL: nothing was sent"),
    "agi-command-failed": (502, "Asterisk answered 510, 511 or 520"),
    "agi-command-timeout": (504, "Asterisk did not answer a command in time"),
    "agi-bad-reply": (502, "Asterisk's reply could not be read"),
    "agi-overloaded": (503, "beyond max_sessions: refused at once"),
    "agi-channel-gone": (410, "the channel hung up (logged only)"),
    "agi-line-too-long": (400, "a line over max_line_length (logged only)"),
    "agi-idle-timeout": (408, "the agi_* block did not arrive in time (logged only)"),
    "agi-peer-refused": (403, "the peer is not in allowed_peers, or no PBX's agi_peers on that port (logged only)"),
    "agi-pbx-refused": (403, "the session names a PBX its address and port do not speak for: nothing was done"),
    "inbound-bad-order": (400, "X-Linkdesk-Order is not an order id"),
    "inbound-not-trunk": (403, "X-Linkdesk-* headers on a call that did not come over the trunk: ignored"),
}


class LinkdeskError(Exception):
    """A refusal or failure with a stable `reason`; `detail` travels with it
    (in the HTTP error body, e.g. an order's current `version`)."""

    def __init__(self, reason: str, message: str, **detail):
        super().__init__(message)
        self.reason, self.detail = reason, detail

    @property
    def http_status(self) -> int:
        return http_status(self.reason)


def http_status(reason: str) -> int:
    """The one HTTP status of `reason` (500 for an id not in the table)."""
    return REASONS.get(reason, REASONS[INTERNAL])[0]


class NotFound(LinkdeskError, KeyError):
    """The store has no such record."""

    def __init__(self, what: str, reason: str = "transfer-not-found"):
        super().__init__(reason, f"no {what!r}")

    def __str__(self) -> str:
        return self.args[0]


# The PBX refused an action (or answered it unreadably), as opposed to a link
# that is down, which keeps its own id (ami-not-connected, …).
PBX_REFUSED = frozenset({"ami-action-failed", "ami-reply-unreadable", "ami-error"})


def failure_on_pbx(error: BaseException, refused: str) -> str:
    """The id a caller sees when an action on the PBX failed with `error`:
    `refused` when the PBX said no, the error's own id otherwise, and
    internal-error for an exception that is not linkdesk's (a bug)."""
    if not isinstance(error, LinkdeskError):
        return INTERNAL
    return refused if error.reason in PBX_REFUSED else error.reason
