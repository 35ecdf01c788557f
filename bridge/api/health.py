"""Health, without a token: `GET /livez` (the process serves), `GET /readyz`
(it can do its work: the store takes writes and every PBX's AMI is logged
in; and whether it leads or stands by) and `GET /healthz` (the PBXs only, as
before)."""

from __future__ import annotations

from typing import Callable, Iterable

from twisted.web.resource import Resource

from linkdesk.ami.connection import AmiConnection
from linkdesk.bridge.api.pages import write_json

# What the store probe says: None when writable, else the database's complaint.
StoreProblem = Callable[[], "str | None"]
# Which part this instance plays among those on one store: {"role": "leader"|"standby", ...}.
Role = Callable[[], dict]


class LivezResource(Resource):
    """`GET /livez`: 200 whenever the process answers at all."""

    isLeaf = True

    def render_GET(self, request) -> bytes:
        return write_json(request, 200, {"status": "alive"})


class HealthResource(Resource):
    """`GET /healthz`: 200 when every PBX's AMI is logged in, else 503, with details."""

    isLeaf = True

    def __init__(self, connections: Iterable[AmiConnection]):
        super().__init__()
        self._connections = tuple(connections)

    def render_GET(self, request) -> bytes:
        pbxs = {c.endpoint.name: {"ami": "logged-in" if c.logged_in else "down"}
                for c in self._connections}
        healthy = all(c.logged_in for c in self._connections)
        return write_json(request, 200 if healthy else 503,
                          {"status": "ok" if healthy else "degraded", "pbx": pbxs})


class ReadyzResource(Resource):
    """`GET /readyz`: 200 when the store takes writes and every PBX's AMI is
    logged in; else 503, `not_ready` naming each part that is not. A standby
    is ready: it serves FastAGI and HTTP as the leader does."""

    isLeaf = True

    def __init__(self, connections: Iterable[AmiConnection], store_problem: StoreProblem,
                 role: Role = lambda: {"role": "leader"}):
        super().__init__()
        self._connections, self._store_problem, self._role = tuple(connections), store_problem, role

    def render_GET(self, request) -> bytes:
        problem = self._store_problem()
        store = {"state": "writable"} if problem is None else {"state": "not-writable", "problem": problem}
        pbxs = {c.endpoint.name: ami_state(c) for c in self._connections}
        not_ready = ([] if problem is None else ["store"]) + [
            f"pbx.{name}" for name, state in pbxs.items() if state["ami"] != "logged-in"]
        return write_json(request, 503 if not_ready else 200,
                          {"status": "not-ready" if not_ready else "ready", "not_ready": not_ready,
                           "store": store, "pbx": pbxs, "cluster": self._role()})


def ami_state(connection: AmiConnection) -> dict:
    """One PBX's AMI as /readyz shows it: its state and, while down, the
    failed attempts since the last login and the delay before the next."""
    state = {"ami": connection.state}
    if not connection.logged_in and connection.failed_attempts:
        state.update(failed_attempts=connection.failed_attempts, retry_delay=connection.retry_delay)
    return state
