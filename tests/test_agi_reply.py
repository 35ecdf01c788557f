"""AGI reply lines as Asterisk writes them, read into code, result, data and
endpos; the quick path for common replies reads them as the full grammar does."""

from __future__ import annotations

import pytest

from linkdesk.agi.reply import _RESULT, ReplyAssembler, ReplyFormatError, parse_status_line

READ = [
    ("200 result=1", (200, "1", None, None)),
    ("200 result=-1", (200, "-1", None, None)),
    ("200 result=1 (13800138000)", (200, "1", "13800138000", None)),
    ("200 result=1 ()", (200, "1", "", None)),
    ("200 result=1 (a (b))", (200, "1", "a (b)", None)),
    ("200 result=0 endpos=8192", (200, "0", None, 8192)),
    ("200 result=49 (timeout) endpos=16000", (200, "49", "timeout", 16000)),
    ("200 result=1 (endpos=3)", (200, "1", "endpos=3", None)),
    ("200 result=1  (two spaces)", (200, "1", "two spaces", None)),
    ("510 Invalid or unknown command", (510, "", None, None)),
    ("511 Command Not Permitted on a dead channel or intercept routine", (511, "", None, None)),
]


@pytest.mark.parametrize("line, expected", READ)
def test_status_lines_are_read_into_their_parts(line, expected):
    reply = parse_status_line(line)
    assert (reply.code, reply.result, reply.data, reply.endpos) == expected


@pytest.mark.parametrize("line", [line for line, (code, *_) in READ if code == 200])
def test_the_quick_path_agrees_with_the_full_grammar(line):
    match = _RESULT.match(line[4:])
    reply = parse_status_line(line)
    assert (reply.result, reply.data) == (match.group("result"), match.group("data"))


@pytest.mark.parametrize("line", ["200 result=1 (", "200 ok", "20 result=1", "HELLO", "", "2000 result=1"])
def test_lines_asterisk_would_not_send_are_refused(line):
    with pytest.raises(ReplyFormatError):
        parse_status_line(line)


def test_a_520_usage_block_is_one_reply():
    assembler = ReplyAssembler()
    assert assembler.feed("520-Invalid command syntax.  Proper usage follows:") is None
    assert assembler.feed("Usage: GET VARIABLE <variablename>") is None
    reply = assembler.feed("520 End of proper usage.")
    assert reply.code == 520
    assert "Usage: GET VARIABLE" in reply.text
    assert assembler.feed("200 result=1").code == 200
