"""Seeded train/validation splits."""

import torch

from torchlab.errors import TorchlabError


def split_sizes(n: int, val_split: int | float) -> tuple[int, int]:
    """(train, val) sizes for a count, or a fraction below 1, of `n` samples held out."""
    if isinstance(val_split, float) and 0 <= val_split < 1:
        n_val = round(n * val_split)
    elif float(val_split).is_integer() and 0 <= val_split < n:
        n_val = int(val_split)
    else:
        raise TorchlabError(f"data.val_split must be a fraction in [0, 1) or a count below {n}, got {val_split}")
    return n - n_val, n_val


def train_val_indices(n: int, val_split: int | float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Shuffle 0..n-1 with `seed` and hold out the validation part; both sorted."""
    n_train, _ = split_sizes(n, val_split)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[:n_train].sort().values, perm[n_train:].sort().values
