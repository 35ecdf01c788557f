"""FastAGI on the wire, without a network: chat tables on a StringTransport,
the same bytes in chunks of 1 to 9, hangups mid-command, hostile values."""

from __future__ import annotations

import pytest

from linkdesk.agi.fastagi import AgiLimits
from linkdesk.agi.request import AgiRequest
from linkdesk.agi.routes import DuplicateRoute, RouteTable
from agi_chat import Chat, env_block, settle
from ami_probe import on_loop
from linkdesk.bridge.app.agi_routes import build_route_table


async def _raises(request: AgiRequest) -> None:
    raise RuntimeError("boom")


async def _echo_arg(request: AgiRequest) -> None:
    await request.set_variable("LINKDESK_TEXT", request.args.get("text", ""))


async def _waits(request: AgiRequest) -> None:
    await request.command("EXEC", "Wait", "30")


@pytest.fixture
def chats():
    """Makes Chats; each one still open is hung up after the test, ending its session."""
    made = []

    def make(routes=None, limits=AgiLimits(), share=None):
        chat = Chat(routes or _routes(), limits, share=share)
        made.append(chat)
        return chat

    yield make
    for chat in made:
        chat.hang_up()


def _routes() -> RouteTable:
    table = build_route_table()
    table.add("raises", _raises)
    table.add("echo", _echo_arg)
    table.add("waits", _waits)
    return table


# The last command is sent and the session closed at once: its reply is not
# awaited (the dialplan goes on one round trip sooner).
PING_CHAT = [
    (env_block("ping"), b'GET VARIABLE "CALLERID(num)"\n'),
    (b"200 result=1 (13800138000)\n", b'SET VARIABLE "LINKDESK_PING" "pong 13800138000"\n'),
    (b"200 result=1\n", b'SET VARIABLE "LINKDESK_RESULT" "ok"\n'),
]


@pytest.mark.parametrize("chunk", [None, 1, 2, 3, 4, 5, 6, 7, 8, 9])
@on_loop
async def test_ping_chat_in_any_chunking(chunk, chats):
    chat = chats()
    for asterisk_says, linkdesk_answers in PING_CHAT:
        assert await chat.asterisk_sends(asterisk_says, chunk) == linkdesk_answers
    assert await chat.ended() == "ok"
    assert chat.closed


ERROR_CHATS = {
    "unknown route": (env_block("nosuch?x=1"), "agi-unknown-route"),
    "handler error": (env_block("raises"), "internal-error"),
    "malformed query": (env_block("echo?text=%ZZ&&=="), "agi-bad-arguments"),
    "repeated argument": (env_block("echo?text=a&text=b"), "agi-bad-arguments"),
    "garbage in the environment": (b"agi_network: yes\nnot an env line\n\n", "agi-bad-environment"),
}


@pytest.mark.parametrize("case", sorted(ERROR_CHATS))
@on_loop
async def test_every_failure_sets_result_and_reason_then_closes(case, caplog, chats):
    env, reason = ERROR_CHATS[case]
    chat = chats()
    assert await chat.asterisk_sends(env) == b'SET VARIABLE "LINKDESK_RESULT" "error"\n'
    assert await chat.asterisk_sends(b"200 result=1\n") == f'SET VARIABLE "LINKDESK_REASON" "{reason}"\n'.encode()
    assert await chat.ended() == reason
    assert chat.closed
    assert reason in caplog.text


@on_loop
async def test_hangup_in_the_middle_of_a_command_ends_the_session_quietly(chats):
    chat = chats()
    assert await chat.asterisk_sends(env_block("waits")) == b'EXEC "Wait" "30"\n'
    # Asterisk announces the hangup out of band, then the command returns -1.
    assert await chat.asterisk_sends(b"HANGUP\n") == b""
    assert await chat.asterisk_sends(b"200 result=-1\n") == b""
    assert await chat.ended() == "agi-channel-gone"
    assert chat.closed


@on_loop
async def test_connection_lost_mid_command_ends_the_session(chats):
    chat = chats()
    await chat.asterisk_sends(env_block("ping"))
    chat.protocol.connectionLost(None)
    await settle()
    assert await chat.ended() == "agi-channel-gone"
    assert chat.factory.active == 0


@on_loop
async def test_dead_channel_reply_511_ends_the_session(chats):
    chat = chats()
    await chat.asterisk_sends(env_block("ping"))
    assert await chat.asterisk_sends(b"511 Command Not Permitted on a dead channel or intercept routine\n") == b""
    assert await chat.ended() == "agi-channel-gone"


@on_loop
async def test_usage_reply_520_is_read_whole_and_reported(chats):
    chat = chats()
    await chat.asterisk_sends(env_block("ping"))
    usage = (b"520-Invalid command syntax.  Proper usage follows:\n"
             b"Usage: GET VARIABLE <variablename>\n"
             b"520 End of proper usage.\n")
    assert await chat.asterisk_sends(usage, chunk=3) == b'SET VARIABLE "LINKDESK_RESULT" "error"\n'
    assert await chat.asterisk_sends(b"200 result=1\n") == b'SET VARIABLE "LINKDESK_REASON" "agi-command-failed"\n'


@on_loop
async def test_command_timeout_reports_and_ignores_the_late_reply(chats):
    chat = chats(limits=AgiLimits(command_timeout=2.0))
    assert await chat.asterisk_sends(env_block("waits")) == b'EXEC "Wait" "30"\n'
    chat.transport.clear()
    chat.clock.advance(2.0)
    await settle()
    assert chat.transport.value() == b'SET VARIABLE "LINKDESK_RESULT" "error"\n'
    # The Wait's late reply comes first; it must not answer the SET VARIABLE.
    assert await chat.asterisk_sends(b"200 result=0\n") == b""
    assert await chat.asterisk_sends(b"200 result=1\n") == b'SET VARIABLE "LINKDESK_REASON" "agi-command-timeout"\n'
    assert await chat.ended() == "agi-command-timeout"
    assert chat.closed


@on_loop
async def test_a_silent_peer_is_dropped_after_the_idle_timeout(chats):
    chat = chats(limits=AgiLimits(idle_timeout=5.0))
    await chat.asterisk_sends(b"agi_network: yes\n")
    chat.clock.advance(4.9)
    assert not chat.closed
    chat.clock.advance(0.35)  # deadlines are swept every 0.25 s: at most that late
    assert chat.closed


@on_loop
async def test_sessions_beyond_the_limit_get_an_immediate_error(chats):
    first = chats(limits=AgiLimits(max_sessions=1))
    second = chats(share=first)
    assert await second.asterisk_sends(env_block("ping")) == b'SET VARIABLE "LINKDESK_RESULT" "error"\n'
    assert await second.asterisk_sends(b"200 result=1\n") == b'SET VARIABLE "LINKDESK_REASON" "agi-overloaded"\n'
    # The first session is served as usual.
    assert await first.asterisk_sends(env_block("ping")) == b'GET VARIABLE "CALLERID(num)"\n'


@on_loop
async def test_peers_outside_the_allow_list_are_refused(chats):
    chat = chats(limits=AgiLimits(allowed_peers=frozenset({"10.1.1.1"})))
    assert chat.closed
    assert await chat.asterisk_sends(env_block("ping")) == b""
    assert chat.factory.active == 0


HOSTILE = {
    "quote": ('say "hi"', b'SET VARIABLE "LINKDESK_TEXT" "say \\"hi\\""\n'),
    "backslash": ("a\\b", b'SET VARIABLE "LINKDESK_TEXT" "a\\\\b"\n'),
    "injection attempt": ('x" "y', b'SET VARIABLE "LINKDESK_TEXT" "x\\" \\"y"\n'),
    "unicode": ("张三", 'SET VARIABLE "LINKDESK_TEXT" "张三"\n'.encode()),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
@on_loop
async def test_values_are_quoted_and_escaped(case, chats):
    from urllib.parse import quote
    text, expected = HOSTILE[case]
    chat = chats()
    assert await chat.asterisk_sends(env_block(f"echo?text={quote(text)}")) == expected


@pytest.mark.parametrize("bad", ["\r", "\n", "\x00", "ok\r\nEXEC Hangup"])
@on_loop
async def test_cr_lf_nul_values_are_refused_and_nothing_is_sent(bad, chats):
    from urllib.parse import quote
    chat = chats()
    written = await chat.asterisk_sends(env_block(f"echo?text={quote(bad)}"))
    assert written == b'SET VARIABLE "LINKDESK_RESULT" "error"\n'
    assert b"LINKDESK_TEXT" not in written and b"Hangup" not in written
    assert await chat.asterisk_sends(b"200 result=1\n") == b'SET VARIABLE "LINKDESK_REASON" "agi-unsafe-value"\n'


@on_loop
async def test_a_10kb_line_closes_the_session_without_sending_anything(caplog, chats):
    chat = chats()
    assert await chat.asterisk_sends(b"agi_callerid: " + b"9" * 10_000 + b"\n") == b""
    assert chat.closed
    assert "agi-line-too-long" in caplog.text


@on_loop
async def test_a_10kb_value_within_a_raised_limit_is_read(chats):
    chat = chats(limits=AgiLimits(max_line_length=16_384))
    await chat.asterisk_sends(env_block("ping", agi_calleridname="N" * 10_000))
    assert chat.protocol.env["agi_calleridname"] == "N" * 10_000


def test_a_duplicate_route_fails_at_start_up():
    table = build_route_table()
    with pytest.raises(DuplicateRoute, match="'ping'"):
        table.add("ping", _raises)


@on_loop
async def test_crlf_line_endings_and_a_reply_in_the_same_packet_are_read(chats):
    chat = chats()
    env = env_block("ping").replace(b"\n", b"\r\n")
    assert await chat.asterisk_sends(env) == b'GET VARIABLE "CALLERID(num)"\n'
    assert chat.protocol.env["agi_callerid"] == "13800138000"


async def _two_at_once(request: AgiRequest) -> None:
    import asyncio
    first, second = await asyncio.gather(request.get_variable("A"), request.get_variable("B"))
    await request.set_variable("AB", first + second)


@on_loop
async def test_commands_issued_at_once_go_out_one_at_a_time(chats):
    routes = _routes()
    routes.add("two", _two_at_once)
    chat = chats(routes=routes)
    assert await chat.asterisk_sends(env_block("two")) == b'GET VARIABLE "A"\n'
    assert await chat.asterisk_sends(b"200 result=1 (x)\n") == b'GET VARIABLE "B"\n'
    assert await chat.asterisk_sends(b"200 result=1 (y)\n") == b'SET VARIABLE "AB" "xy"\n'
