"""What ``run.json`` records about where a run's numbers came from: package versions, the git
revision, threads and host."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any


#: Packages whose versions ``run.json`` records (what can change a search's numbers).
VERSIONED_PACKAGES = ("spikebits", "torch", "optuna", "moocore", "numpy", "scipy", "scikit-learn", "ray")


def git_revision() -> str | None:
    """The commit of the git checkout spikebits runs from (an editable install), with
    ``+dirty`` when tracked files differ from it; None for an installed wheel, without git, or
    outside a checkout."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True)
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return commit.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


def versions() -> dict[str, str]:
    """Python's and :data:`VERSIONED_PACKAGES`' versions, and spikebits' git revision."""
    out = {"python": platform.python_version()}
    for pkg in VERSIONED_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    revision = git_revision()
    if revision is not None:
        out["spikebits_git"] = revision
    return out


def environment() -> dict[str, Any]:
    """What else changes a search's numbers on one machine: torch's CPU threads (floating-point
    sums are split differently across threads), the deterministic-algorithms flag, the host."""
    import torch

    return {
        "threads": torch.get_num_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
