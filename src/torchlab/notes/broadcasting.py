"""Broadcasting: align shapes from the last dimension; each pair must be equal, or one of them 1.

The notes say dims of size 0 or 1 expand and size >= 2 is "ambiguous". The rule is per dimension:
missing dims count as 1, a size-1 dim stretches to any size, two different sizes >= 2 fail.
"""

import torch

from torchlab.notes import show

ORDER = 60
BLOCKS = ()

FEATURE_MAP = (4, 32, 14, 14)
CASES = [(32, 1, 1), (14, 14), (1,), (14, 1), (4, 1, 1, 1), (32, 14, 14), (2, 32, 14, 14), (32,), (14, 2)]


def broadcast_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """The shape `zeros(a) + zeros(b)` has, or None where PyTorch refuses."""
    try:
        return tuple((torch.zeros(a) + torch.zeros(b)).shape)
    except RuntimeError:
        return None


def main() -> None:
    for case in CASES:
        shape = broadcast_shape(FEATURE_MAP, case)
        show(f"{FEATURE_MAP} + {case}", shape if shape else "RuntimeError: cannot broadcast")
