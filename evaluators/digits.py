"""scikit-learn's handwritten digits: the offline data set every test and the demo use."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from spikebits.evaluators.data import VAL_FRACTION, DataSplit, check_split, register_dataset, stratified_split
from spikebits.space import DataError


@register_dataset("digits", (1, 16, 16), 10)
def load_digits(
    *, seed: int = 0, root: str | Path | None = None, val_fraction: float = VAL_FRACTION, size: int = 16, test_fraction: float = 0.2
) -> DataSplit:
    """scikit-learn's 1,797 handwritten digits (8×8, 0–16), scaled to [0, 1] and upsampled
    bilinearly to ``size``×``size``; a stratified train/test split seeded by ``seed``, then
    ``val_fraction`` of the training part held out for validation (stratified, same seed)."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    try:
        bunch = sk_load_digits()
    except Exception as err:  # pragma: no cover - sklearn ships this file
        raise DataError(f"cannot read scikit-learn's digits data ({err}); reinstall scikit-learn") from None
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False).clamp(0.0, 1.0)
    labels = torch.tensor(bunch.target, dtype=torch.long)
    idx = torch.arange(len(labels)).numpy()
    check_split(labels.numpy(), test_fraction, option="test_fraction")  # train_test_split's ValueError never escapes
    train_idx, test_idx = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=labels.numpy())
    kept, held = stratified_split(labels[train_idx].numpy(), val_fraction, seed)
    train_idx, val_idx = train_idx[kept], train_idx[held]
    return DataSplit(
        "digits",
        TensorDataset(images[train_idx], labels[train_idx]),
        TensorDataset(images[val_idx], labels[val_idx]),
        TensorDataset(images[test_idx], labels[test_idx]),
        (1, size, size),
        10,
    )
