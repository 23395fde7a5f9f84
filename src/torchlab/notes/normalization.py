"""Feature scaling: transforms.Normalize per channel; BatchNorm's statistics and running averages.

y = gamma * x_hat + beta has mean beta and standard deviation |gamma| (variance gamma^2; the notes
write N(beta, gamma)), and it is not necessarily normal. Normalize only standardises with the given
statistics (ImageNet's here); it does not make data normally distributed. BatchNorm normalises a
batch with its biased variance, but running_var averages the unbiased one, with momentum 0.1.
The layer gets gamma = 2 and beta = 0.5 (its defaults are 1 and 0) so that the output's mean and
standard deviation show which is which; Normalize runs on a random 3x32x32 image.
"""

import torch
from torch import nn
from torchvision import transforms

from torchlab.notes import show

ORDER = 240
BLOCKS = ("Image Normalization", "Batch Normalization")

IMAGENET = transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])


def batchnorm_step(x: torch.Tensor, gamma: float = 1.0, beta: float = 0.0) -> tuple[torch.Tensor, nn.BatchNorm1d]:
    """One training-mode forward of BatchNorm1d(C) on x [N, C, L] with weight=gamma, bias=beta."""
    layer = nn.BatchNorm1d(x.shape[1])
    nn.init.constant_(layer.weight, gamma)
    nn.init.constant_(layer.bias, beta)
    return layer(x), layer


def main() -> None:
    image = torch.rand(3, 32, 32)
    out = IMAGENET(image)
    show("Normalize(ImageNet) of a uniform image: per-channel mean", out.mean(dim=(1, 2)))
    show(
        "(x - mean) / std by hand equals it",
        torch.allclose(
            out, (image - torch.tensor(IMAGENET.mean)[:, None, None]) / torch.tensor(IMAGENET.std)[:, None, None]
        ),
    )
    x = torch.rand(100, 16, 784)
    y, layer = batchnorm_step(x, gamma=2.0, beta=0.5)
    show("nn.BatchNorm1d(16)(x [100,16,784]).shape", tuple(y.shape))
    show(
        "output mean, std for channel 0 (beta=0.5, gamma=2)",
        (round(y[:, 0].mean().item(), 4), round(y[:, 0].std().item(), 4)),
    )
    show("layer.running_mean[:3] (0.9 * 0 + 0.1 * batch mean)", layer.running_mean[:3])
    show("layer.running_var[:3] (0.9 * 1 + 0.1 * unbiased batch var)", layer.running_var[:3])
    show("vars(layer) keys", sorted(k for k in vars(layer) if not k.startswith("_")))
    layer.eval()
    show("eval(): running stats used, batch ignored; num_batches_tracked", layer.num_batches_tracked.item())
