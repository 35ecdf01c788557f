"""A reader for Asterisk's .conf format, enough to find ports, users and numbers.

Asterisk's own parser handles templates (`[name](!)`, `[name](tpl)`), `=>`,
`;` comments and `#include`; pyst2's `asterisk.config` stops at templates, so
linkdesk reads the few files it needs itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Section:
    """One `[name]` block: its templates and its options in file order."""

    name: str
    templates: tuple[str, ...] = ()
    options: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_template(self) -> bool:
        return "!" in self.templates

    def get(self, key: str, default: str | None = None) -> str | None:
        """The last value given for `key` (Asterisk keeps the last)."""
        values = self.getall(key)
        return values[-1] if values else default

    def getall(self, key: str) -> list[str]:
        return [value for name, value in self.options if name == key]


class ConfError(ValueError):
    """A line of an Asterisk .conf file that cannot be read."""


def parse_conf(text: str, source: str = "<conf>") -> list[Section]:
    """Every section of an Asterisk .conf text, templates included, in order;
    `#` directives are skipped (read_conf and read_tree expand includes)."""
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        if line.startswith("["):
            sections.append(_section_header(line, f"{source}:{number}"))
        elif line.startswith("#"):
            continue
        elif not sections:
            raise ConfError(f"{source}:{number}: option outside any section")
        else:
            sections[-1].options.append(_option(line, f"{source}:{number}"))
    return sections


def read_conf(path: Path) -> list[Section]:
    """Every section of the .conf file at `path` and of the files it
    `#include`s (named relative to its folder), in the order Asterisk reads
    them; an included file that is not there (a kit file not rendered yet)
    reads as empty."""
    return parse_conf(read_tree(path.parent, path.name), str(path))


def find_section(sections: list[Section], name: str, type_: str | None = None) -> Section:
    """The non-template section called `name` (of `type = type_` if given), as
    Asterisk sees it (see `resolved`). ConfError if there is none, or if it
    names a template that is not defined before it."""
    for index, section in enumerate(sections):
        if section.name == name and _is_plain(section):
            full = _resolve(sections, index)
            if type_ is None or full.get("type") == type_:
                return full
    wanted = f"{name} (type={type_})" if type_ else name
    raise ConfError(f"no section [{wanted}]")


def resolved(sections: list[Section]) -> list[Section]:
    """Every non-template section as Asterisk sees it: its templates' options
    first, then its own, then those of later `[name](+)` additions (which
    Asterisk adds to the first section of that name). ConfError if one names
    a template that is not defined before it."""
    return [_resolve(sections, index) for index, section in enumerate(sections) if _is_plain(section)]


def _is_plain(section: Section) -> bool:
    return not section.is_template and section.templates != ("+",)


def _resolve(sections: list[Section], index: int) -> Section:
    section = sections[index]
    full = _inherited(sections[:index], section)
    if not any(s.name == section.name and _is_plain(s) for s in sections[:index]):
        full.options += [pair for extra in sections[index + 1:]
                         if extra.name == section.name and extra.templates == ("+",) for pair in extra.options]
    return full


def _inherited(before: list[Section], section: Section) -> Section:
    """`section` with the options of its templates (each the last section of
    that name defined before it, with its own templates) ahead of its own."""
    options: list[tuple[str, str]] = []
    for parent in section.templates:
        if parent == "!":
            continue
        index = next((i for i in range(len(before) - 1, -1, -1) if before[i].name == parent), None)
        if index is None:
            raise ConfError(f"[{section.name}] inherits from [{parent}], which is not defined before it")
        options += _inherited(before[:index], before[index]).options
    return Section(section.name, section.templates, options + section.options)


def _strip_comment(line: str) -> str:
    # `\;` is a literal semicolon in Asterisk configs.
    out, escaped = [], False
    for char in line:
        if char == ";" and not escaped:
            break
        escaped = char == "\\"
        out.append(char)
    return "".join(out)


def _section_header(line: str, where: str) -> Section:
    close = line.find("]")
    if close < 2:
        raise ConfError(f"{where}: bad section header {line!r}")
    rest = line[close + 1 :].strip()
    templates: tuple[str, ...] = ()
    if rest:
        if not (rest.startswith("(") and rest.endswith(")")):
            raise ConfError(f"{where}: bad template list {rest!r}")
        templates = tuple(t.strip() for t in rest[1:-1].split(",") if t.strip())
    return Section(line[1:close].strip(), templates)


def _option(line: str, where: str) -> tuple[str, str]:
    name, sep, value = line.partition("=")
    if not sep or not name.strip():
        raise ConfError(f"{where}: expected 'name = value', got {line!r}")
    return name.strip(), value.lstrip(">").strip()


def read_tree(folder: Path, name: str, depth: int = 0) -> str:
    """The text of `folder/name` with every `#include`/`#tryinclude` expanded
    in place (relative to `folder`, globs allowed), as Asterisk reads it.
    A file that is not there reads as empty: what is missing is the caller's to report."""
    path = folder / name
    if depth > 8 or not path.is_file():
        return ""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        directive, _, target = line.strip().partition(" ")
        if directive in ("#include", "#tryinclude"):
            pattern = target.strip().strip('"')
            for match in sorted(folder.glob(pattern)) if any(c in pattern for c in "*?[") else [folder / pattern]:
                out.append(read_tree(match.parent, match.name, depth + 1))
        else:
            out.append(line)
    return "\n".join(out)
