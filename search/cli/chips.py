"""``spikebits chips``: the chip profiles (``--chip``), or one profile's values with their sources."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("chips", help="list the chip profiles --chip takes, or show one with the source of every value")
    p.add_argument("names", nargs="*", metavar="CHIP", help="show these profiles (a built-in name or a .toml file) value by value")
    p.set_defaults(func=run)


def describe(name: str) -> str:
    """One profile's values, each with its cited source."""
    from spikebits.evaluators.chips import load_profile

    profile = load_profile(name)
    lines = [f"{profile.name}: {profile.description}" + ("" if profile.hardware else " (not hardware)")]
    for key, source in profile.sources.items():
        lines.append(f"  {key}: {source}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from spikebits.evaluators.chips import format_profile_table

    if not args.names:
        print(format_profile_table())
        print("show a profile's values with their sources: spikebits chips NAME; search for one: spikebits search --chip NAME")
        return 0
    texts = [describe(name) for name in args.names]  # every name is checked before anything is printed
    print("\n\n".join(texts))
    return 0
