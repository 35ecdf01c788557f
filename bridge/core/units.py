"""The linkage-unit directory: third parties (gas, power, water, fire 119,
medical 120, …) that can be called into a running three-way conference,
with the citizen's number presented. From linkdesk's config:

    [units.gas]
    name = "City gas emergency line"
    number = "1901"
    category = "gas"
    trunk = "to-gas"          # optional: a PJSIP endpoint; else PJSIP/<number>
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from linkdesk.bridge.core.endpoints import is_endpoint_name

_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_NUMBER = re.compile(r"[0-9*#+]{1,32}")


class UnitConfigError(ValueError):
    pass


@dataclass(frozen=True)
class LinkageUnit:
    id: str
    name: str
    number: str
    category: str
    trunk: str = ""

    @property
    def dial(self) -> str:
        """The Asterisk dial string that reaches the unit."""
        return f"PJSIP/{self.number}@{self.trunk}" if self.trunk else f"PJSIP/{self.number}"

    def public(self) -> dict:
        return {"id": self.id, "name": self.name, "number": self.number, "category": self.category}


def unit_from_config(unit_id: str, table: dict) -> LinkageUnit:
    """One `[units.ID]` table, checked: no value can smuggle Dial options."""
    if not _ID.fullmatch(unit_id):
        raise UnitConfigError(f"units.{unit_id}: the id must be lower-case letters, digits, '-' or '_'")
    unknown = set(table) - {"name", "number", "category", "trunk"}
    if unknown:
        raise UnitConfigError(f"units.{unit_id}: unknown setting(s) {', '.join(sorted(unknown))}")
    fields = {key: table.get(key, "") for key in ("name", "number", "category", "trunk")}
    if not all(isinstance(value, str) for value in fields.values()):
        raise UnitConfigError(f"units.{unit_id}: every setting is a string")
    if not _NUMBER.fullmatch(fields["number"]):
        raise UnitConfigError(f"units.{unit_id}.number: digits, '*', '#' or '+' only")
    if fields["trunk"] and not is_endpoint_name(fields["trunk"]):
        raise UnitConfigError(f"units.{unit_id}.trunk: not a PJSIP endpoint name")
    if not fields["name"] or any(c in fields["name"] for c in "\r\n\x00"):
        raise UnitConfigError(f"units.{unit_id}.name: a non-empty line of text")
    return LinkageUnit(unit_id, fields["name"], fields["number"], fields["category"] or unit_id, fields["trunk"])
