"""FastAGI binds each peer to the PBX it speaks for: by the address it comes
from and the linkdesk port it reached, whatever `?pbx=` claims."""

from __future__ import annotations

import asyncio

import pytest
from twisted.internet import task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from agi_chat import env_block, settle
from ami_probe import on_loop
from lab_linkdesk import free_tcp_port
from linkdesk.agi.fastagi import AgiLimits, FastAgiFactory
from linkdesk.agi.hosting import listen
from linkdesk.agi.peers import PbxPeers, PeerBinding
from linkdesk.agi.routes import RouteTable
from linkdesk.bridge.app.config import ConfigError, load_config
from linkdesk.bridge.app.reactor import event_loop

# The lab's shape: both PBXs on 127.0.0.1, told apart by the port they call.
LAB = PeerBinding([PbxPeers("110", frozenset({"127.0.0.1"}), 4573),
                   PbxPeers("12345", frozenset({"127.0.0.1"}), 4574)])


class Session:
    """One FastAGI session from `peer` to linkdesk's `port`; the `act` route records the PBX it acted for."""

    def __init__(self, peer: str, port: int, binding: PeerBinding = LAB):
        self.acted_for: list[str] = []
        routes = RouteTable()
        routes.add("act", self._act)
        clock = task.Clock()
        factory = FastAgiFactory(routes, AgiLimits(), event_loop(), clock.callLater, clock.seconds, peers=binding)
        self.transport = StringTransport(hostAddress=IPv4Address("TCP", "127.0.0.1", port),
                                         peerAddress=IPv4Address("TCP", peer, 40000))
        self.protocol = factory.buildProtocol(None)
        self.protocol.makeConnection(self.transport)

    async def _act(self, request) -> None:
        self.acted_for.append(request.args.get("pbx"))

    async def send(self, data: bytes) -> bytes:
        self.transport.clear()
        self.protocol.dataReceived(data)
        await settle()
        return self.transport.value()


@on_loop
async def test_a_peer_claiming_another_pbx_is_refused_with_a_clear_id_and_nothing_is_done():
    session = Session("127.0.0.1", 4573)          # 110's port
    assert await session.send(env_block("act?pbx=12345")) == b'SET VARIABLE "LINKDESK_RESULT" "error"\n'
    assert await session.send(b"200 result=1\n") == b'SET VARIABLE "LINKDESK_REASON" "agi-pbx-refused"\n'
    assert session.acted_for == []


@on_loop
async def test_the_same_address_on_the_other_pbxs_port_acts_for_that_pbx():
    session = Session("127.0.0.1", 4574)          # 12345's port
    assert await session.send(env_block("act?pbx=12345")) == b'SET VARIABLE "LINKDESK_RESULT" "ok"\n'
    assert session.acted_for == ["12345"]


@on_loop
async def test_a_session_that_names_no_pbx_acts_for_the_one_its_address_and_port_speak_for():
    session = Session("127.0.0.1", 4574)
    await session.send(env_block("act"))
    assert session.acted_for == ["12345"]


@on_loop
async def test_a_peer_of_no_pbx_is_refused_before_it_speaks():
    session = Session("10.9.9.9", 4573)
    assert session.transport.disconnecting
    assert await session.send(env_block("act?pbx=110")) == b""
    assert session.acted_for == []


@on_loop
async def test_without_bindings_the_pbx_argument_is_taken_as_before():
    session = Session("10.9.9.9", 4573, PeerBinding())
    await session.send(env_block("act?pbx=12345"))
    assert session.acted_for == ["12345"]


def load(tmp_path, text: str):
    path = tmp_path / "linkdesk.toml"
    path.write_text(text)
    return load_config(str(path), env={})


def test_agi_peers_and_ports_are_read_per_pbx(tmp_path):
    config = load(tmp_path, '[pbx.110]\nsecret = "s"\nagi_peers = ["127.0.0.1"]\n'
                            '[pbx.12345]\nsecret = "s"\nagi_peers = ["127.0.0.1", "::1"]\nagi_port = 4574\n')
    assert config.agi.peers.pbxs_for("127.0.0.1", 4573) == {"110"}
    assert config.agi.peers.pbxs_for("::1", 4574) == {"12345"}
    assert config.agi.ports == (4573, 4574)


@pytest.mark.parametrize("text, message", [
    ('[pbx.110]\nsecret = "s"\nagi_peers = ["127.0.0.1"]\n[pbx.12345]\nsecret = "s"\n',
     "pbx.12345.agi_peers: missing; once one PBX has agi_peers, every PBX needs it"),
    ('[pbx.110]\nsecret = "s"\nagi_peers = ["pbx-110.local"]\n',
     "pbx.110.agi_peers: a list of IP addresses like [\"10.0.0.5\"], got ['pbx-110.local']"),
    ('[pbx.110]\nsecret = "s"\nagi_peers = []\n', "pbx.110.agi_peers: a list of IP addresses"),
    ('[pbx.110]\nsecret = "s"\nagi_port = 4574\n', "pbx.110.agi_port: needs agi_peers"),
    ('[pbx.110]\nsecret = "s"\nagi_peers = "127.0.0.1"\n', "pbx.110.agi_peers: expected list"),
])
def test_bad_agi_peer_settings_are_refused_with_the_setting_named(tmp_path, text, message):
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)
    assert str(raised.value).startswith(message)


async def chat_over_tcp(port: int, script: str) -> bytes:
    """Asterisk's side of one session on loopback: the agi_* block, then '200 result=1' to each command."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(env_block(script))
    heard = b""
    while line := await asyncio.wait_for(reader.readline(), 5):
        heard += line
        writer.write(b"200 result=1\n")
    writer.close()
    return heard


@on_loop
async def test_over_real_sockets_the_port_a_session_reached_decides_its_pbx():
    ports = free_tcp_port(), free_tcp_port()
    binding = PeerBinding([PbxPeers("110", frozenset({"127.0.0.1"}), ports[0]),
                           PbxPeers("12345", frozenset({"127.0.0.1"}), ports[1])])
    acted_for = []

    async def act(request) -> None:
        acted_for.append(request.args["pbx"])

    routes = RouteTable()
    routes.add("act", act)
    factory = FastAgiFactory(routes, AgiLimits(), event_loop(), peers=binding)
    listeners = [await listen(factory, "127.0.0.1", port) for port in ports]
    try:
        refused = await chat_over_tcp(ports[0], "act?pbx=12345")
        accepted = await chat_over_tcp(ports[1], "act?pbx=12345")
    finally:
        for listener in listeners:
            listener.close()
    assert b'"LINKDESK_REASON" "agi-pbx-refused"' in refused
    assert accepted == b'SET VARIABLE "LINKDESK_RESULT" "ok"\n'
    assert acted_for == ["12345"]
