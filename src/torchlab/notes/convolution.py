"""Convolution: nn.Conv2d and F.conv2d shapes; what the layer computes.

Convolution is y(t) = (x * h)(t) = integral x(tau) h(t - tau) dtau, not the product x(t) h(t) the
notes write. And PyTorch's "convolution" is a cross-correlation: it does not flip the kernel; a true
convolution is conv1d with the kernel flipped. The notes' x, w and b are undefined: an MNIST-sized
x, and for F.conv2d 16 random 5x5 kernels with their biases.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from torchlab.notes import show

ORDER = 220
BLOCKS = ("单方向的卷积操作：",)


def out_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """floor((size + 2 padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def conv1d_vs_definitions(x: torch.Tensor, h: torch.Tensor) -> dict[str, torch.Tensor]:
    """F.conv1d next to the 'valid' cross-correlation and the 'valid' convolution, written as sums."""
    k = len(h)
    windows = x.unfold(0, k, 1)  # windows[t] = x[t : t + k]
    return {
        "F.conv1d(x, h)": F.conv1d(x.view(1, 1, -1), h.view(1, 1, -1)).flatten(),
        "sum_k x[t+k] h[k] (cross-correlation)": (windows * h).sum(1),
        "sum_k x[t+k] h[K-1-k] (convolution)": (windows * h.flip(0)).sum(1),
        "np.convolve(x, h, 'valid')": torch.from_numpy(np.convolve(x.numpy(), h.numpy(), "valid")),
    }


def main() -> None:
    x = torch.rand(1, 1, 28, 28)
    layer = nn.Conv2d(1, 3, kernel_size=3, stride=1, padding=0)
    out = layer(x)  # __call__ runs hooks and forward(); call the layer, not layer.forward
    show("nn.Conv2d(1, 3, kernel_size=3, stride=1, padding=0)(x [1,1,28,28]).shape", tuple(out.shape))
    show("(28 + 2*0 - 3) // 1 + 1", out_size(28, 3))
    show("layer.weight.shape, layer.bias.shape", (tuple(layer.weight.shape), tuple(layer.bias.shape)))
    w, b = torch.rand(16, 1, 5, 5), torch.rand(16)
    show("F.conv2d(x, w [16,1,5,5], b, stride=1, padding=1).shape", tuple(F.conv2d(x, w, b, padding=1).shape))
    show("stride=2, padding=1, kernel 3", tuple(nn.Conv2d(1, 3, 3, stride=2, padding=1)(x).shape))
    for label, value in conv1d_vs_definitions(
        torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([1.0, 0.0, -1.0])
    ).items():
        show(label, value)
