"""The screen pop's event log: numbered, kept, resumable, per platform."""

from __future__ import annotations

from linkdesk.bridge.core.events import EventLog


def test_events_are_numbered_and_a_client_resumes_after_the_last_it_saw():
    log = EventLog()
    first = log.publish("transfer.ringing", {"110", "12345"}, {"order_id": "WO-1"})
    second = log.publish("transfer.answered", {"110", "12345"}, {"order_id": "WO-1"})
    assert (first.id, second.id) == (1, 2)
    assert log.since(1) == ([second], False)
    assert log.since(None) == ([first, second], False)


def test_a_last_event_id_older_than_what_is_kept_says_so_and_starts_from_the_oldest():
    log = EventLog(kept=2)
    for n in range(5):
        log.publish("order.created", {"12345"}, {"n": n})
    events, missed = log.since(1)
    assert missed and [e.id for e in events] == [4, 5]
    assert log.since(3) == (events, False)


def test_each_platform_sees_its_own_and_an_extension_filter_keeps_that_extensions():
    log = EventLog()
    ringing = log.publish("transfer.ringing", {"12345"}, {"extension": "2101"})
    order = log.publish("order.created", {"12345", "110"}, {})
    assert not ringing.visible_to("110")
    assert ringing.visible_to("12345", "2101") and not ringing.visible_to("12345", "2102")
    assert order.visible_to("12345", "2102"), "an event for no extension is everyone's"


def test_subscribers_hear_new_events_until_they_stop():
    log, heard = EventLog(), []
    stop = log.subscribe(heard.append)
    log.publish("order.created", {"110"}, {})
    stop()
    log.publish("order.accepted", {"110"}, {})
    assert [e.kind for e in heard] == ["order.created"]
