"""The transport-security settings of a `[pbx.NAME]` table: which addresses
and port its FastAGI sessions come from (`agi_peers`, `agi_port`) and how its
AMI login is protected (`tls`, `tls_ca`). Every bad value is a ConfigError
that names the setting (and the file)."""

from __future__ import annotations

import ipaddress
import ssl

from linkdesk.agi.peers import PbxPeers, PeerBinding
from linkdesk.bridge.app.config_error import ConfigError


def agi_peers(tables: dict, shared_port: int) -> PeerBinding:
    """The addresses each PBX runs AGI from, and the port it reaches linkdesk
    on (its agi_port, else [agi] port). Either every PBX has agi_peers or
    none does: a PBX left out could not use FastAGI at all."""
    peers = [PbxPeers(name, _addresses(name, table["agi_peers"]), table.get("agi_port", shared_port))
             for name, table in tables.items() if "agi_peers" in table]
    unbound = sorted(name for name, table in tables.items() if "agi_peers" not in table)
    if peers and unbound:
        raise ConfigError(f"pbx.{unbound[0]}.agi_peers: missing; once one PBX has agi_peers, every PBX needs it")
    stray = sorted(name for name, table in tables.items() if "agi_port" in table and "agi_peers" not in table)
    if stray:
        raise ConfigError(f"pbx.{stray[0]}.agi_port: needs agi_peers (the addresses that PBX runs AGI from)")
    return PeerBinding(peers)


def _addresses(name: str, addresses: list) -> frozenset[str]:
    try:
        if not addresses:
            raise ValueError("no address")
        return frozenset(str(ipaddress.ip_address(address)) for address in addresses)
    except (TypeError, ValueError):
        raise ConfigError(f'pbx.{name}.agi_peers: a list of IP addresses like ["10.0.0.5"], '
                          f"got {addresses!r}") from None


def ami_tls(name: str, table: dict) -> dict:
    """`tls = true` logs in over TLS (the PBX's manager.conf tlsenable);
    `tls_ca` is the CA file (or the PBX's own, pinned, certificate) that
    verifies the PBX; without it the system's trust store does."""
    tls, ca = table.get("tls", False), table.get("tls_ca")
    if not isinstance(tls, bool):
        raise ConfigError(f"pbx.{name}.tls: expected true or false, got {tls!r}")
    if ca is not None and not tls:
        raise ConfigError(f"pbx.{name}.tls_ca: set tls = true too (tls_ca verifies the PBX's TLS certificate)")
    if ca is not None:
        try:
            ssl.create_default_context(cafile=ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"pbx.{name}.tls_ca: cannot use {ca} ({getattr(exc, 'strerror', None) or exc})") from None
    return {"tls": tls, "tls_ca": ca}
