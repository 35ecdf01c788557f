"""RFC 4733 key presses (and a spoken tone) as pcap files that sipp's
play_pcap_audio sends.

sipp ships one pcap per key, all with the same SSRC and unrelated sequence
numbers, so Asterisk takes the second key of "*1" for a replay of an old
packet. Here a whole key sequence gets one stream with rising sequence
numbers and timestamps. Addresses in the file are placeholders: sipp sends to
the media address the PBX gave in its SDP.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
PAYLOAD_TYPE = 101
SSRC = 0x4C494E4B  # "LINK"


def _packet(seq: int, timestamp: int, event: int, end: bool, duration: int, marker: bool) -> bytes:
    return _frame(struct.pack(">BBH", event, (0x80 if end else 0) | 10, duration), PAYLOAD_TYPE, seq, timestamp,
                  marker)


def _frame(payload: bytes, payload_type: int, seq: int, timestamp: int, marker: bool) -> bytes:
    rtp = struct.pack(">BBHII", 0x80, (0x80 if marker else 0) | payload_type, seq, timestamp, SSRC)
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


def _ulaw(sample: int) -> int:
    """G.711 mu-law of one 16-bit sample."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = magnitude.bit_length() - 8
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def write_tone_pcap(path: Path, seconds: float, silence: float, hertz: int = 440) -> Path:
    """`seconds` of a loud tone, then `silence` s of silence (PCMU, 20 ms
    packets): someone speaking, then listening, for the PBX's talk detection
    (which needs silent frames, not missing ones, to hear the talking stop).
    sipp sends a pcap's first packet at once and keeps the file's spacing."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    loud = int(seconds * 50)
    for n in range(loud + int(silence * 50)):
        amplitude = 12000 if n < loud else 0
        samples = (int(amplitude * math.sin(2 * math.pi * hertz * (n * 160 + i) / 8000)) for i in range(160))
        frame = _frame(bytes(_ulaw(s) for s in samples), 0, 20000 + n, 480000 + 160 * n, n == 0)
        clock_ms = 20 * n
        out.append(struct.pack("<IIII", clock_ms // 1000, (clock_ms % 1000) * 1000, len(frame), len(frame)))
        out.append(frame)
    path.write_bytes(b"".join(out))
    return path
