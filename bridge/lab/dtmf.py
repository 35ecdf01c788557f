"""RFC 4733 key presses as a pcap file that sipp's play_pcap_audio sends.

sipp ships one pcap per key, all with the same SSRC and unrelated sequence
numbers, so Asterisk takes the second key of "*1" for a replay of an old
packet. Here a whole key sequence gets one stream with rising sequence
numbers and timestamps. Addresses in the file are placeholders: sipp sends to
the media address the PBX gave in its SDP.
"""

from __future__ import annotations

import struct
from pathlib import Path

EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
PAYLOAD_TYPE = 101
SSRC = 0x4C494E4B  # "LINK"


def _packet(seq: int, timestamp: int, event: int, end: bool, duration: int, marker: bool) -> bytes:
    rtp = struct.pack(">BBHII", 0x80, (0x80 if marker else 0) | PAYLOAD_TYPE, seq, timestamp, SSRC)
    payload = struct.pack(">BBH", event, (0x80 if end else 0) | 10, duration)
    udp = struct.pack(">HHHH", 40000, 40000, 8 + len(rtp) + len(payload), 0) + rtp + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
    return b"\x00" * 12 + b"\x08\x00" + ip


def write_dtmf_pcap(keys: str, path: Path, gap_ms: int = 200, part: int = 0) -> Path:
    """`keys` (digits, * and #) as one RTP event stream, 100 ms per key. Later
    `part`s of one call continue the sequence numbers and timestamps, or the
    PBX would take them for replays of the first part."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    seq, clock_ms, timestamp = 1000 + 500 * part, 0, 160_000 + 400_000 * part
    for key in keys:
        event = EVENTS[key]
        for n in range(8):
            end = n >= 5  # three end packets, as RFC 4733 asks
            frame = _packet(seq, timestamp, event, end, min(n + 1, 5) * 160, marker=(n == 0))
            out.append(struct.pack("<IIII", clock_ms // 1000, (clock_ms % 1000) * 1000, len(frame), len(frame)))
            out.append(frame)
            seq += 1
            clock_ms += 0 if end else 20
        clock_ms += gap_ms
        timestamp += 8 * (100 + gap_ms)
    path.write_bytes(b"".join(out))
    return path
