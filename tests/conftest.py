"""Shared fixtures. Every test process uses one pretraining cache, so digits_cnn is
pretrained once per session (about 20 s on 2 cores) and reused by the slow tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(os.cpu_count() or 1, 2)))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spikebits-cache")
    os.environ["SPIKEBITS_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def digits_evaluator(cache_dir: Path):
    """digits_cnn on digits with the default pretraining (30 epochs, cached)."""
    from spikebits.evaluators import Evaluator

    return Evaluator("digits_cnn", "digits", seed=0, epochs=1, cache_dir=cache_dir)
