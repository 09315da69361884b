"""``spikebits export``: pack a fine-tuned checkpoint into a pickle-free ``.sbq`` file whose
weight payload is exactly ⌈size_bits/8⌉ bytes, or write it as a NIR graph (``--format nir``,
:mod:`evaluators.nir_export`)."""

from __future__ import annotations

import argparse
from typing import Any

from spikebits.search.cli.checkpoint import load_checkpoint, load_into
from spikebits.search.cli.common import add_model_arguments, build_model, load_config, load_space
from spikebits.space import ConfigError, check_output_file


def add_parser(sub: Any) -> None:
    x = sub.add_parser("export", help="pack a fine-tuned checkpoint into a pickle-free .sbq model file")
    add_model_arguments(x)
    x.add_argument("--space", help="search space JSON the config was evaluated in (default: the model's default space)")
    x.add_argument("--config", help="config JSON file (default: the one stored in the checkpoint by `evaluate --save-checkpoint`)")
    x.add_argument("--checkpoint", required=True, help="state_dict from `spikebits evaluate --save-checkpoint`")
    x.add_argument("--out", required=True, help="the file to write (replaced atomically)")
    x.add_argument(
        "--format", choices=("sbq", "nir"), default=None,
        help="sbq (packed integer weights) or nir (a NIR graph for neuromorphic toolchains); default: nir for a .nir --out, else sbq",
    )
    x.add_argument(
        "--nir-lowering", choices=("auto", "standard", "extended"), default="auto",
        help="standard: LIF, Conv2d, Affine and SumPool2d nodes that snnTorch, Norse and Sinabs load (binary spikes, S = 1 after "
             "the input layer); extended: I/Threshold/Scale/Delay subgraphs for multi-bit spikes; auto (default): standard where "
             "the config allows it",
    )
    x.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spikebits import models
    from spikebits.evaluators.cost import size_bits

    check_output_file(args.out, f"--out {args.out}")
    model, info = build_model(args)
    space = load_space(args.space) or models.default_space(model)
    state, saved = load_checkpoint(args.checkpoint)
    if args.config is None and saved is None:
        raise ConfigError(f"checkpoint {args.checkpoint} holds no config; give the one it was fine-tuned with (--config FILE)")
    config = space.complete(load_config(args.config), strict=False) if args.config else space.complete(saved, strict=False)
    if saved is not None and space.complete(saved, strict=False) != config:
        raise ConfigError(
            f"--config differs from the config checkpoint {args.checkpoint} was fine-tuned with ({saved.short()}); drop --config"
        )
    load_into(models.apply_config(model, config), state, args.checkpoint, args.model)
    if (args.format or ("nir" if str(args.out).endswith(".nir") else "sbq")) == "nir":
        from spikebits.evaluators.nir_export import write_nir

        summary = write_nir(model, args.out, args.nir_lowering)
        print(f"wrote {args.out}: NIR graph ({summary['lowering']} lowering) of {summary['nodes']} nodes and {summary['edges']} edges, {summary['file_bytes']} bytes "
              f"({config.short()})")
        return 0
    expected = size_bits(models.layer_specs(model, info.input_shape), config)
    summary = models.save_sbq(model, args.out)
    if summary["payload_bits"] != expected:  # pragma: no cover  (a packing bug, not a user error)
        raise RuntimeError(f"payload holds {summary['payload_bits']} bits but size_bits is {expected}")
    print(f"wrote {args.out}: {summary['file_bytes']} bytes (header {summary['header_bytes']} + 12, "
          f"payload {summary['payload_bytes']} = ceil(size_bits {expected} / 8); payload bits equal size_bits)")
    return 0
