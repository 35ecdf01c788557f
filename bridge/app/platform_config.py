"""[platforms] and each PBX's `platform`: which platforms linkdesk links,
what each is, and which PBXs each runs on (core/platforms.py).

    [platforms.110]
    role = "police"            # takes police orders; its non-police calls count as diverted
    [platforms.12345]
    role = "service"           # takes work orders

    [pbx.110-a]
    platform = "110"           # a big centre: two PBXs run the 110 platform
    [pbx.110-b]
    platform = "110"

Without `platform`, a PBX is a platform of its own name; without [platforms],
"110" is police and "12345" service, as linkdesk has always had them. The
tokens, transfer targets and orders name platforms, never PBXs."""

from __future__ import annotations

import re

from linkdesk.bridge.app.config_error import ConfigError, typed
from linkdesk.bridge.core.platforms import ROLES, Platforms

SCHEMA = {"role": str}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


def platforms_config(pbx_tables: dict, platform_tables: dict) -> Platforms:
    """The platforms of the [pbx.*] tables and the [platforms] table; ConfigError naming the setting."""
    pbxs = {name: _platform_of(name, table) for name, table in pbx_tables.items()}
    roles = {}
    for platform, table in platform_tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f'platforms.{platform}: a table, like [platforms.{platform}] role = "police"')
        if not _NAME.fullmatch(platform):
            raise ConfigError(f"platforms.{platform}: a platform's name is letters, digits, - and _ (at most 32)")
        role = typed(table, SCHEMA, f"platforms.{platform}").get("role")
        if role is not None and role not in ROLES:
            raise ConfigError(f"platforms.{platform}.role: one of {', '.join(ROLES)}; got {role!r}")
        if role is not None:
            roles[platform] = role
    return Platforms.of_pbxs(pbxs, roles)


def _platform_of(name: str, table: dict) -> str:
    platform = table.get("platform", name) if isinstance(table, dict) else name
    if not isinstance(platform, str) or not _NAME.fullmatch(platform):
        raise ConfigError(f"pbx.{name}.platform: a platform's name (letters, digits, - and _, at most 32), "
                          f"got {platform!r}")
    return platform
