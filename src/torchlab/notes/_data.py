"""Made-up data the sections share, so that every example runs offline in milliseconds."""

import torch
from torch.utils.data import DataLoader, TensorDataset


def blobs(n: int = 2000, dim: int = 784, classes: int = 10, seed: int = 0) -> TensorDataset:
    """`n` flattened "images" in `classes` noisy clusters: a stand-in for MNIST that trains in a blink.

    The clusters are the same for every seed; the seed draws the samples (train and test sets).
    """
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(1234))
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    x = centres[y] + 2.0 * torch.randn(n, dim, generator=g)
    return TensorDataset(x, y)


def loader(dataset: TensorDataset, batch_size: int = 100, shuffle: bool = True, seed: int = 0) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(seed))
