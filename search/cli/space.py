"""``spikebits space``: print a model's default search space as JSON (to edit per layer)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from spikebits.search.cli.common import add_chip_argument, add_membrane_argument, add_model_arguments, build_model
from spikebits.space import atomic_write_text, check_output_file


def add_parser(sub: Any) -> None:
    p = sub.add_parser("space", help="print a model's default search space as JSON")
    add_model_arguments(p)
    p.add_argument("--unpin-first", action="store_true", help="let the search choose the first layer too")
    add_membrane_argument(p)
    add_chip_argument(p)
    p.add_argument("--out", help="write to this file instead of printing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spikebits import models

    if args.out:
        check_output_file(args.out, f"--out {args.out}")
    model, info = build_model(args)
    space = models.default_space(model, pin_first=not args.unpin_first)
    if args.membrane_bits:
        space = space.searching_membrane(args.membrane_bits)
    if args.chip:
        import dataclasses

        from spikebits.evaluators.chips import chip_space, load_profile, place, profile_names

        profile = load_profile(args.chip)
        specs = models.layer_specs(model, info.input_shape)
        reference = args.chip if args.chip in profile_names() else str(Path(args.chip).expanduser().resolve())
        space = dataclasses.replace(chip_space(profile, space, specs=specs), chip=reference)
        place(profile, specs, space.smallest_config())  # a layer that fits no core: one line
    text = space.to_json()
    print(f"input shape {','.join(map(str, info.input_shape))} ({args.dataset})", file=sys.stderr)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    else:
        print(text)
    return 0
