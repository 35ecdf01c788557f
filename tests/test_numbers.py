"""Citizens' numbers: one national form, validated, privacy kept."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from linkdesk.bridge.core.numbers import CallerNumber, InvalidNumber, caller_number, normalise


@pytest.mark.parametrize("raw, normal", [
    ("13800138000", "13800138000"), ("+86 138 0013 8000", "13800138000"),
    ("0086-13800138000", "13800138000"), ("138-0013-8000", "13800138000"),
    ("(010) 8888-6666", "01088886666"), ("110", "110"), ("12345", "12345"),
])
def test_national_and_plus86_forms_and_separators_normalise(raw, normal):
    assert normalise(raw) == normal


@pytest.mark.parametrize("raw", ["", "abc", "12", "1380013800\r\n0", "1" * 16, "+86", "13800\x00138000"])
def test_what_is_not_a_number_is_refused(raw):
    with pytest.raises(InvalidNumber) as err:
        normalise(raw)
    assert err.value.reason == "caller-number-invalid"


def test_a_withheld_number_is_carried_flagged_withheld():
    number = caller_number("13800138000", presentation="prohib_passed_screen")
    assert number == CallerNumber("13800138000", withheld=True)


@pytest.mark.parametrize("raw", ["anonymous", "Anonymous", "", "unknown"])
def test_no_number_at_all_is_withheld_and_empty(raw):
    assert caller_number(raw) == CallerNumber("", withheld=True)


@given(st.from_regex(r"1[3-9]\d{9}", fullmatch=True), st.sampled_from(["", "+86", "0086", "+86 "]),
       st.sampled_from(["", " ", "-"]))
def test_any_mobile_number_survives_prefixes_and_separators(mobile, prefix, sep):
    spaced = sep.join([mobile[:3], mobile[3:7], mobile[7:]])
    assert normalise(prefix + spaced) == mobile
