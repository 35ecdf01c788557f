"""Which PBX a FastAGI session speaks for: the address it comes from and the
linkdesk port it reached, never what its `?pbx=` argument claims.

Each PBX has its peer addresses (`[pbx.NAME] agi_peers`) and a FastAGI port
(`agi_port`, or `[agi] port`). A session is for PBX P when it comes from one
of P's addresses to P's port. PBXs on one host (the lab's two, on
127.0.0.1) are told apart by port: a source address cannot do it, and a
secret in the AGI URL would be written to every verbose Asterisk log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from linkdesk.agi.request import AgiError


@dataclass(frozen=True)
class PbxPeers:
    """The addresses PBX `pbx` runs AGI from, and the port it reaches linkdesk on."""

    pbx: str
    addresses: frozenset[str]
    port: int


class PeerBinding:
    """The PBX ↔ (address, port) bindings; with none, every session may name any PBX."""

    def __init__(self, peers: Iterable[PbxPeers] = ()):
        self.peers = tuple(peers)

    @property
    def active(self) -> bool:
        return bool(self.peers)

    @property
    def ports(self) -> frozenset[int]:
        return frozenset(peer.port for peer in self.peers)

    def pbxs_for(self, address: str, port: int) -> frozenset[str]:
        """The PBXs a session from `address` to linkdesk's `port` may act for."""
        return frozenset(p.pbx for p in self.peers if address in p.addresses and port == p.port)

    def bind(self, address: str, port: int, args: dict[str, str]) -> None:
        """Check (and, when the session names none, fill in) `args["pbx"]`;
        AgiError agi-pbx-refused when the peer may not act for that PBX."""
        allowed = self.pbxs_for(address, port)
        claimed = args.get("pbx")
        if claimed is None:
            if len(allowed) == 1:
                args["pbx"] = next(iter(allowed))
            return
        if claimed not in allowed:
            raise AgiError("agi-pbx-refused", f"a session from {address} on port {port} may act for "
                           f"{', '.join(sorted(allowed)) or 'no PBX'}, not PBX {claimed!r}")
