"""The rooms' dependency rule, read from every module's imports (ast): arrows
point inward. The core imports neither Twisted, panoramisk, SQLite nor
PostgreSQL's driver (psycopg); the protocol rooms (agi/, ami/) never reach
for the process wiring or the CLI; metrics/ knows nothing of bridge/'s
internals; and every import of linkdesk's own code goes through the one
`linkdesk` namespace."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOMS = ("agi", "ami", "bridge", "dialplan", "metrics")
OWN_TOP_LEVEL = set(ROOMS)

# room (a folder, as a module prefix) → module prefixes it must not import
FORBIDDEN = {
    "linkdesk.bridge.core": ("twisted", "panoramisk", "sqlite3", "sqlite_utils", "psycopg", "linkdesk.bridge.store",
                             "linkdesk.bridge.api", "linkdesk.bridge.app", "linkdesk.bridge.cli",
                             "linkdesk.ami", "linkdesk.agi", "prometheus_client"),
    "linkdesk.agi": ("linkdesk.bridge.app", "linkdesk.bridge.cli"),
    "linkdesk.ami": ("linkdesk.bridge.app", "linkdesk.bridge.cli"),
    "linkdesk.metrics": ("linkdesk.bridge",),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(("linkdesk", *parts[:-1])) if parts[-1] == "__init__" else ".".join(("linkdesk", *parts))


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return found


def product_modules() -> dict[str, list[str]]:
    return {module_name(path): imports_of(path) for room in ROOMS for path in sorted((REPO / room).rglob("*.py"))}


def violations(modules: dict[str, list[str]]) -> list[str]:
    broken = []
    for module, imported in modules.items():
        for name in imported:
            if name.split(".")[0] in OWN_TOP_LEVEL:
                broken.append(f"{module} imports {name} outside the linkdesk namespace")
            for room, banned in FORBIDDEN.items():
                if (module == room or module.startswith(room + ".")) and any(
                        name == b or name.startswith(b + ".") for b in banned):
                    broken.append(f"{module} imports {name}")
    return sorted(set(broken))


def test_every_room_keeps_the_dependency_rule():
    assert violations(product_modules()) == []


@pytest.mark.parametrize("module, imported", [
    ("linkdesk.bridge.core.transfers", "twisted.internet.reactor"),
    ("linkdesk.bridge.core.orders", "sqlite3"),
    ("linkdesk.bridge.core.transfers", "psycopg.errors"),
    ("linkdesk.bridge.core.outbox", "linkdesk.bridge.store.orders"),
    ("linkdesk.ami.control", "linkdesk.bridge.app.wiring"),
    ("linkdesk.agi.handlers", "linkdesk.bridge.cli.main"),
    ("linkdesk.metrics.wiring", "linkdesk.bridge.core.conferences"),
    ("linkdesk.bridge.app.serve", "bridge.app.config"),
])
def test_a_broken_rule_is_caught(module, imported):
    """The rule broken on purpose, one arrow at a time: each is reported."""
    modules = product_modules()
    modules[module] = [*modules[module], imported]
    assert violations(modules) == [next(v for v in violations(modules) if imported in v)]
