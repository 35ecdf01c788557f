"""The lab phones' ports: below the kernel's ephemeral range, handed out in
turn, a taken one skipped (the busy hour's phones raced other sockets for
ports the system had just released)."""

from __future__ import annotations

import socket

from linkdesk.bridge.lab import phones


def test_ports_come_in_turn_from_below_the_ephemeral_range_and_a_taken_one_is_skipped(monkeypatch):
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    monkeypatch.setattr(phones, "_cursor", [100])     # away from the pool's end, where it wraps
    first = phones.free_udp_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", first + 1))
        second = phones.free_udp_port()
    assert second == first + 2, "the next port in turn, skipping the taken one"
    span = phones.free_udp_port(4)
    assert span == second + 1
    assert all(phones._POOL_START <= port < min(low, phones._POOL_END) for port in (first, second, span + 3))
