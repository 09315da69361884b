"""Spiking neurons. Each takes a constant input current and returns T spike maps.

Shapes: the input current is ``[B, ...]``; the output is ``[T, B, ...]``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from models.quantizers import init_spike_step, quantize_unsigned


class RefinedNeuron(nn.Module):
    """Refined multi-bit spiking neuron (soft reset, rounding threshold), Yao et al.

        v_t = v_{t−1}/τ + x_t − s_{t−1}
        s_t = γ_t·clip(⌊v_t/γ_t + 0.5⌋, 0, 2^(B_s,t) − 1)

    with v_0 = s_0 = 0 and τ = 1 by default. Each time step t has its own step size γ_t.
    With T = 1 it is an unsigned activation quantizer. ``bits=None`` is the full-precision
    limit (B_s → ∞): s_t = max(v_t, 0). The input current x_t is the same for every step
    (temporal squeezing hands each layer the mean of the previous layer's output).
    """

    def __init__(self, tau: float = 1.0) -> None:
        super().__init__()
        if tau < 1.0:
            raise ValueError("tau must be >= 1 (v_t = v_{t-1}/tau + x_t - s_{t-1})")
        self.tau = tau
        self.gamma = nn.Parameter(torch.ones(1))
        self.register_buffer("initialized", torch.tensor(False))
        self.bits: int | None = None
        self.timesteps = 1

    @property
    def spike_bits(self) -> int | None:
        return self.bits

    def configure(self, bits: int | None, timesteps: int) -> None:
        if timesteps < 1:
            raise ValueError("timesteps must be >= 1")
        if (bits, timesteps) != (self.bits, self.timesteps):
            self.initialized.fill_(False)
            if timesteps != self.gamma.numel():
                self.gamma = nn.Parameter(self.gamma.detach()[:1].repeat(timesteps))
        self.bits, self.timesteps = bits, timesteps

    def forward(self, x: Tensor) -> Tensor:
        if self.bits is not None and not bool(self.initialized):
            with torch.no_grad():
                self.gamma.fill_(init_spike_step(x, self.bits))
                self.initialized.fill_(True)
        v = torch.zeros_like(x)
        s = torch.zeros_like(x)
        out = []
        for t in range(self.timesteps):
            v = (v if self.tau == 1.0 else v / self.tau) + x - s
            s = torch.relu(v) if self.bits is None else quantize_unsigned(v, self.gamma[t], self.bits)
            out.append(s)
        return torch.stack(out)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, timesteps={self.timesteps}, tau={self.tau}"


class _FastSigmoidSpike(torch.autograd.Function):
    """Heaviside forward; surrogate gradient 1/(1 + k|u|)² backward (SuperSpike)."""

    @staticmethod
    def forward(ctx, u: Tensor, slope: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(u)
        ctx.slope = slope
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (u,) = ctx.saved_tensors
        return grad / (1.0 + ctx.slope * u.abs()) ** 2, None


def spike_fn(u: Tensor, slope: float = 5.0) -> Tensor:
    """H(u) with the fast-sigmoid surrogate gradient."""
    return _FastSigmoidSpike.apply(u, slope)


class LIFNeuron(nn.Module):
    """Plain leaky integrate-and-fire neuron with binary spikes (simplified LIF, Lui & Neftci).

        v_t = β·v_{t−1}·(1 − s_{t−1}) + x_t
        s_t = H(v_t − θ)

    Hard reset, leak β, threshold θ; H has the fast-sigmoid surrogate gradient. Spikes are
    1-bit, so a layer fed by this neuron has S = 1 whatever its config says.
    """

    def __init__(self, beta: float = 0.9, threshold: float = 1.0, slope: float = 5.0) -> None:
        super().__init__()
        self.beta, self.threshold, self.slope = beta, threshold, slope
        self.timesteps = 1

    @property
    def spike_bits(self) -> int:
        return 1

    def configure(self, bits: int | None, timesteps: int) -> None:
        if timesteps < 1:
            raise ValueError("timesteps must be >= 1")
        self.timesteps = timesteps

    def forward(self, x: Tensor) -> Tensor:
        v = torch.zeros_like(x)
        s = torch.zeros_like(x)
        out = []
        for _ in range(self.timesteps):
            v = self.beta * v * (1.0 - s) + x
            s = spike_fn(v - self.threshold, self.slope)
            out.append(s)
        return torch.stack(out)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}, timesteps={self.timesteps}"


NEURONS = {"refined": RefinedNeuron, "lif": LIFNeuron}
