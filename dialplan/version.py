"""The comment at the top of every rendered file: what rendered it, and from what."""

from __future__ import annotations

from importlib import metadata


def linkdesk_version() -> str:
    try:
        return metadata.version("linkdesk")
    except metadata.PackageNotFoundError:   # run from a source tree that was never installed
        return "unknown"


def header(pbx: str, goes_into: str) -> str:
    """`; Rendered by linkdesk X for PBX P …`, naming the site file that includes it."""
    return (f"; Rendered by linkdesk {linkdesk_version()} (`linkdesk site render`) for PBX {pbx};"
            f" included from {goes_into}.\n"
            "; Do not edit: change linkdesk's config and render again.\n")
