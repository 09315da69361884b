"""``spikebits strategies``: every registered strategy with its options, their defaults and
a one-line description — the same table the ``search`` flags are built from."""

from __future__ import annotations

import argparse
from typing import Any

from spikebits.search.base import available, get_strategy, strategy_summary
from spikebits.search.options import OptionInfo


def add_parser(sub: Any) -> None:
    p = sub.add_parser("strategies", help="list the search strategies with their options and defaults")
    p.add_argument("names", nargs="*", metavar="STRATEGY", help="only these strategies (default: all)")
    p.add_argument("--markdown", action="store_true", help="one Markdown table row per strategy (the README's table)")
    p.set_defaults(func=run)


def format_default(info: OptionInfo, resolved: Any = None) -> str:
    """An option's default as a user writes it on the command line; an option whose field is
    unset (None) but that the options fill in by themselves (``resolved``, the options built
    from no values) shows that value."""
    value: Any = info.default if info.default is not None else resolved
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return "/".join(f"{v:g}" for v in value) if value else "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def describe_strategy(name: str) -> str:
    """The listing of one strategy: its name and summary, then one line per option."""
    cls = get_strategy(name)
    lines = [f"{name}: {strategy_summary(cls)}"]
    resolved = cls.Options()
    for info in cls.Options.fields_info():
        if not info.cli:
            continue
        choices = f" {{{','.join(map(str, info.choices))}}}" if info.choices else ""
        lines.append(f"  {info.flag:<22} default {format_default(info, getattr(resolved, info.name)):<14} {info.help}{choices}")
    if len(lines) == 1:
        lines.append("  (no options)")
    return "\n".join(lines)


def markdown_table(names: list[str]) -> str:
    """The strategies as a Markdown table: what each does, how it counts its trials, whether
    a search resumes, which data-metric budgets it holds, and its option flags."""
    rows = [
        "| strategy | what it does | trials | resumes | budgets on data metrics | options |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        cls = get_strategy(name)
        data = {"maximize": "floors (accuracy>=)", "minimize": "ceilings (firing_rate<=)"}
        budgets = " and ".join(data[d] for d in ("maximize", "minimize") if d in cls.data_budgets) or "none (data-free only)"
        flags = ", ".join(f"`{info.flag}`" for info in cls.Options.fields_info() if info.cli) or "none"
        rows.append(
            f"| `{name}` | {strategy_summary(cls)} | {cls.trials_note or '--trials'} | {'yes' if cls.resumable else 'no'} | {budgets} | {flags} |"
        )
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    names = args.names or available()
    for name in names:
        get_strategy(name)  # an unknown name is a one-line error
    print(markdown_table(names) if args.markdown else "\n\n".join(describe_strategy(n) for n in names))
    return 0
