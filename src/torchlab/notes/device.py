"""GPU acceleration: one device object, `.to(device)` for the model and every batch.

The notes hard-code torch.device('cuda:0'); this runs on CUDA where there is one, else on the CPU.
`target.cuda()` works only on CUDA; `.to(device)` works everywhere. CrossEntropyLoss has no
parameters or buffers, so it needs no `.to(device)`. One epoch over made-up data (notes/_data.py,
500 samples) stands in for MNIST's train_loader, with lr 0.01 for the notes' undefined learning_rate.
"""

import torch
from torch import nn, optim

from torchlab.notes import show
from torchlab.notes._data import blobs, loader
from torchlab.notes.linear_layers import MLP

ORDER = 160
BLOCKS = ("GPU加速",)


def pick_device() -> torch.device:
    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


def one_epoch(device: torch.device) -> tuple[float, torch.device]:
    """The notes' loop on `device`: the mean loss and where the model's weights live."""
    net = MLP().to(device)
    optimizer = optim.SGD(net.parameters(), lr=0.01)
    criteon = nn.CrossEntropyLoss()
    losses = []
    for data, target in loader(blobs(500)):
        data, target = data.view(-1, 28 * 28).to(device), target.to(device)
        loss = criteon(net(data), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses), next(net.parameters()).device


def main() -> None:
    device = pick_device()
    show("device", device)
    loss, where = one_epoch(device)
    show("one epoch: mean loss, weights on", (round(loss, 4), where))
