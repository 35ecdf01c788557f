"""The platforms linkdesk links (a police alarm desk, a government service
hotline, …), named by the site, and the PBXs each one runs on.

A platform's *role* says what it is to linkdesk: a `police` platform takes
police orders (PO-…) and is the one whose non-police calls count as
diverted; a `service` platform takes work orders (WO-…). A platform without
a role (a linkage unit's case system) gets linkage orders. A big centre runs
one platform on several PBXs: every PBX belongs to exactly one platform.

This module imports neither Twisted, panoramisk nor a database driver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

ORDER_KINDS = {"police": "police", "service": "work"}     # role → the kind of order such a platform takes
ROLES = tuple(ORDER_KINDS)
# The roles of the two platforms linkdesk was first built for, when a config names no role for them.
DEFAULT_ROLES = {"110": "police", "12345": "service"}


@dataclass(frozen=True)
class Platforms:
    roles: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ROLES))   # platform → role
    pbxs: Mapping[str, str] = field(default_factory=dict)      # PBX → its platform (absent: the PBX's own name)

    @classmethod
    def of_pbxs(cls, pbxs: Mapping[str, str], roles: Mapping[str, str] | None = None) -> Platforms:
        """`pbxs` (PBX → platform), `roles` over the default ones."""
        return cls(roles={**DEFAULT_ROLES, **(roles or {})}, pbxs=dict(pbxs))

    def platform_of(self, pbx: str) -> str:
        return self.pbxs.get(pbx, pbx)

    def pbxs_of(self, platform: str) -> tuple[str, ...]:
        """The PBXs `platform` runs on, in the config's order (its own name, if no PBX is assigned to it)."""
        found = tuple(pbx for pbx, owner in self.pbxs.items() if owner == platform)
        return found or (platform,)

    def role(self, platform: str) -> str | None:
        return self.roles.get(platform)

    def order_kind(self, platform: str) -> str:
        """The kind of order a transfer to `platform` creates: police, work, or linkage."""
        return ORDER_KINDS.get(self.roles.get(platform, ""), "linkage")

    def owner_kind(self, platform: str) -> str | None:
        """What an order becomes once `platform` takes the matter over (None: it keeps its kind)."""
        return ORDER_KINDS.get(self.roles.get(platform, ""))

    def is_diversion(self, pbx: str, target: str) -> bool:
        """A hand-over from a police platform's PBX to a service platform: a non-police call diverted."""
        return self.role(self.platform_of(pbx)) == "police" and self.role(target) == "service"

    def is_police_pbx(self, pbx: str) -> bool:
        return self.role(self.platform_of(pbx)) == "police"
