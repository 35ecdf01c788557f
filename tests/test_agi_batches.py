"""AgiRequest.get_variables and set_variables: several values in one round
trip (the hand-over's inbound route), and what they refuse."""

from __future__ import annotations

import pytest

from ami_probe import on_loop
from linkdesk.agi.reply import parse_status_line
from linkdesk.agi.request import AgiError, AgiRequest


class Asterisk:
    """Answers each command line with the next scripted reply, keeping the lines."""

    def __init__(self, *replies: str):
        self.replies, self.lines = list(replies), []

    async def send(self, line: str):
        self.lines.append(line)
        return parse_status_line(self.replies.pop(0))


def _request(asterisk: Asterisk) -> AgiRequest:
    return AgiRequest(env={"agi_channel": "PJSIP/to-110-00000001"}, route="inbound", args={}, send=asterisk.send)


@on_loop
async def test_get_variables_reads_each_value_and_an_unset_one_as_empty():
    asterisk = Asterisk("200 result=1 (a b\x1f\x1fc(d))")
    assert await _request(asterisk).get_variables(["X", "Y", "Z"]) == ["a b", "", "c(d)"]
    assert asterisk.lines == ['GET FULL VARIABLE "${X}\x1f${Y}\x1f${Z}"']


@on_loop
async def test_get_variables_refuses_a_reply_that_does_not_split_into_as_many():
    with pytest.raises(AgiError) as refused:
        await _request(Asterisk("200 result=1 (a\x1fb\x1fc)")).get_variables(["X", "Y"])
    assert refused.value.reason == "agi-bad-reply"


@on_loop
async def test_set_variables_sends_one_mset():
    asterisk = Asterisk("200 result=0")
    await _request(asterisk).set_variables([("__A", "WO-0123456789ab"), ("B", ""), ("C", "+86.1_2-3")])
    assert asterisk.lines == ['EXEC "MSet" "__A=WO-0123456789ab,B=,C=+86.1_2-3"']


@pytest.mark.parametrize("value", ["a,b", "${CALLERID(num)}", 'x"y', "a b", "a=b", "\\"])
@on_loop
async def test_set_variables_refuses_a_value_mset_or_exec_would_read_as_more_and_sends_nothing(value):
    asterisk = Asterisk()
    with pytest.raises(AgiError) as refused:
        await _request(asterisk).set_variables([("A", "fine"), ("B", value)])
    assert refused.value.reason == "agi-unsafe-value"
    assert asterisk.lines == []
