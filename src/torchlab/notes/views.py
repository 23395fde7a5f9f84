"""Views: view, squeeze, unsqueeze, expand, repeat, t, transpose, permute.

view() loses no data, only the dimension structure: view back and you get the same tensor (the
notes say it loses some). expand() shares memory (stride 0), repeat() copies. transpose/permute make
the tensor non-contiguous: view needs .contiguous() (or use reshape) after them.

One transpose swaps two dims only: transpose(1, 3) of [b, c, h, w] is [b, w, h, c], not numpy's
[b, h, w, c] that the notes name beside it; that takes permute(0, 2, 3, 1). The notes' own
permute(0, 2, 1, 3) swaps c and h: [b, h, c, w]. Both are shown.
"""

import torch

from torchlab.notes import show

ORDER = 50
BLOCKS = ()


def view_round_trip(a: torch.Tensor) -> torch.Tensor:
    """[4, 1, 28, 28] -> [4, 784] -> back: equal to a, nothing is lost."""
    return a.view(4, 1 * 28 * 28).view(4, 1, 28, 28)


def expand_vs_repeat(b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """b [1, 32, 1, 1] -> [4, 32, 14, 14] both ways."""
    return b.expand(4, 32, 14, 14), b.repeat(4, 1, 14, 14)


def transpose_round_trip(a: torch.Tensor) -> torch.Tensor:
    """[b, c, h, w] -> [b, w, h, c] (transpose 1,3) and back again, correctly."""
    bwhc = a.transpose(1, 3).contiguous()
    return bwhc.transpose(1, 3)


def main() -> None:
    a = torch.rand(4, 1, 28, 28)
    show("a.view(4, 1*28*28).shape", tuple(a.view(4, 784).shape))
    show("view back equals a (no data lost)", torch.equal(view_round_trip(a), a))
    show("a.squeeze(1).shape", tuple(a.squeeze(1).shape))
    show("a.squeeze(0).shape (size 4 is not 1: unchanged)", tuple(a.squeeze(0).shape))
    show("a.unsqueeze(0).shape", tuple(a.unsqueeze(0).shape))
    show("a.unsqueeze(-1).shape", tuple(a.unsqueeze(-1).shape))
    b = torch.rand(1, 32, 1, 1)
    expanded, repeated = expand_vs_repeat(b)
    show("b.expand(4, 32, 14, 14).shape, stride", (tuple(expanded.shape), expanded.stride()))
    show("b.repeat(4, 1, 14, 14).shape, stride", (tuple(repeated.shape), repeated.stride()))
    show("expand shares b's memory", expanded.data_ptr() == b.data_ptr())
    m = torch.rand(2, 3)
    show("m.t().shape", tuple(m.t().shape))
    show("a.transpose(1, 3).shape ([b, w, h, c])", tuple(a.transpose(1, 3).shape))
    show("a.transpose(1, 3).is_contiguous()", a.transpose(1, 3).is_contiguous())
    show("a.permute(0, 2, 1, 3).shape (the notes': [b, h, c, w])", tuple(a.permute(0, 2, 1, 3).shape))
    show("a.permute(0, 2, 3, 1).shape ([b, h, w, c])", tuple(a.permute(0, 2, 3, 1).shape))
    show("transpose, contiguous, transpose back equals a", torch.equal(transpose_round_trip(a), a))
