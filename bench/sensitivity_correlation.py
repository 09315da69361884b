"""Does measured layer sensitivity predict the damage of quantizing that layer? On digits.

For every layer of the model (the first one too), the layer alone is quantized to 2 bits
(W2/S2/T1, uniform; every other layer full precision, step sizes calibrated on a training
batch, no fine-tuning) and the validation-accuracy drop from the full-precision network is measured.
The script prints, per layer, the drop next to each sensitivity metric of
:func:`evaluators.sensitivity.measure_sensitivity` — the weight Hessian trace Tr(H_w), the
HAWQ objective at that choice (Ω_w(W2) + Ω_a(S2, T1)), the output error of the choice, the
weight kurtosis — and the Spearman rank correlation of each metric with the drop (the seed
paper reports a good correlation for the trace).

    .venv/bin/python bench/sensitivity_correlation.py [--model digits_cnn] [--width 1.0] [--probes 200]
    .venv/bin/python bench/sensitivity_correlation.py --model resnet20 --widths 16,32,64
"""

from __future__ import annotations

import argparse
import time

import torch
from scipy import stats

from spikebits.evaluators import Evaluator
from spikebits.evaluators.sensitivity_measure import measure_sensitivity
from spikebits.evaluators.training import calibrate
from spikebits.models import default_space
from spikebits.space import LayerChoice

CHOICE = LayerChoice(2, 2, 1, "uniform")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="digits_cnn")
    parser.add_argument("--widths", default="16,32,64", help="resnet20 stage widths")
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--tol", type=float, default=1e-3, help="Hutchinson tolerance stop (0: always run --probes probes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    kwargs = {"widths": tuple(int(w) for w in args.widths.split(","))} if args.model == "resnet20" else {}
    start = time.perf_counter()
    probe = Evaluator(args.model, "digits", seed=args.seed, model_kwargs=kwargs)
    space = default_space(probe.new_model(), pin_first=False)
    evaluator = Evaluator(args.model, "digits", seed=args.seed, model_kwargs=kwargs, space=space)
    _, fp_accuracy = evaluator.pretrained()
    report = measure_sensitivity(evaluator, probes=args.probes, batches=args.batches, tol=args.tol)
    rows = []
    for name in space.names:
        model = evaluator.full_precision_model()
        model.spiking_layers()[name].configure(CHOICE)
        calibrate(model, evaluator.data.train, device=evaluator.device)
        drop = fp_accuracy - evaluator.validation_accuracy(model)  # both on the validation split
        layer = report.layers[name]
        rows.append(
            {
                "layer": name,
                "drop": drop,
                "trace": layer.trace,
                "hawq": report.cost("hessian", name, CHOICE),
                "output": layer.output_error[CHOICE.short()],
                "kurtosis": layer.kurtosis,
            }
        )
    print(f"{args.model} on digits, full-precision accuracy {100 * fp_accuracy:.2f}%, {report.probes} probes, "
          f"each layer alone at {CHOICE.short()}")
    print(f"{'layer':>20} {'acc drop':>9} {'Tr(H_w)':>10} {'Ω(W2S2T1)':>10} {'out.err':>10} {'kurtosis':>9}")
    for r in rows:
        print(f"{r['layer']:>20} {100 * r['drop']:8.2f}% {r['trace']:10.4g} {r['hawq']:10.4g} {r['output']:10.4g} {r['kurtosis']:9.3f}")
    drops = [r["drop"] for r in rows]
    print(f"Spearman correlation with the accuracy drop over {len(rows)} layers:")
    for key, label in (("trace", "Hessian trace"), ("hawq", "HAWQ Ω"), ("output", "output error"), ("kurtosis", "kurtosis")):
        rho, p = stats.spearmanr([r[key] for r in rows], drops)
        print(f"  {label:>14}: rho = {rho:+.3f} (p = {p:.3g})")
    print(f"wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
