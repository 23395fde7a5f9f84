"""Seeded train/validation splits: a held-out fraction or count, or one fold of K."""

import hashlib

import torch

from torchlab.config import DataConfig
from torchlab.core.errors import TorchlabError
from torchlab.core.words import counted


def split_sizes(n: int, val_split: int | float) -> tuple[int, int]:
    """(train, val) sizes for a count, or a fraction below 1, of `n` samples held out."""
    if isinstance(val_split, float) and 0 <= val_split < 1:
        n_val = round(n * val_split)
    elif float(val_split).is_integer() and 0 <= val_split < n:
        n_val = int(val_split)
    else:
        raise TorchlabError(f"data.val_split must be a fraction in [0, 1) or a count below {n}, got {val_split}")
    if n_val == n or (val_split and not n_val):
        what = "nothing to train on" if n_val == n else "no sample to validate on"
        raise TorchlabError(f"data.val_split={val_split} of {counted(n, 'sample')} leaves {what}")
    return n - n_val, n_val


def train_val_indices(n: int, val_split: int | float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Shuffle 0..n-1 with `seed` and hold out the validation part; both sorted."""
    n_train, _ = split_sizes(n, val_split)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[:n_train].sort().values, perm[n_train:].sort().values


def kfold_indices(n: int, folds: int, fold: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Shuffle 0..n-1 with `seed`, cut it into `folds` near-equal parts, hold out part `fold`.

    Over fold = 0..folds-1 the validation parts are disjoint and cover every sample once.
    """
    if not 2 <= folds <= n:
        raise TorchlabError(f"data.folds: expected 2 to {n} folds of the {counted(n, 'sample')} to split, got {folds}")
    if not 0 <= fold < folds:
        raise TorchlabError(f"data.fold: expected a fold in 0..{folds - 1}, got {fold}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    parts = torch.tensor_split(perm, folds)
    train = torch.cat([p for i, p in enumerate(parts) if i != fold])
    return train.sort().values, parts[fold].sort().values


def split_indices(n: int, cfg: DataConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The (train, val) indices `cfg` asks for: fold `data.fold` of `data.folds`, else `data.val_split`."""
    if cfg.folds:
        return kfold_indices(n, cfg.folds, cfg.fold, cfg.split_seed)
    return train_val_indices(n, cfg.val_split, cfg.split_seed)


def describe_split(train: torch.Tensor, val: torch.Tensor) -> dict[str, int | str]:
    """Sizes and a fingerprint of the indices, recorded in the run directory as split.json."""
    return {
        "train": len(train),
        "val": len(val),
        "train_sha256": sha256_of(train.to(torch.int64)),
        "val_sha256": sha256_of(val.to(torch.int64)),
    }


def sha256_of(*tensors: torch.Tensor) -> str:
    """A digest of the tensors' values (bytes, not shape or dtype): they are what a run saw of its data."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def digest_contents(splits: dict[str, tuple[torch.Tensor, ...]], class_names: list[str]) -> dict[str, str | list[str]]:
    """A dataset's `contents()` (recorded in split.json): a digest of each split's tensors, and the class names."""
    return {name: sha256_of(*tensors) for name, tensors in splits.items()} | {"classes": class_names}
