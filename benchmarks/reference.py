"""Reference loops written here for the benchmarks: what a user would write by hand.

- `plain_epoch`: the loop a PyTorch user writes around the same model, data tensors, batch size,
  optimiser and schedule as a torchlab recipe (figure 1).
- `ExamplesNet` + `examples_reference`: a loop with the defaults of pytorch/examples' MNIST script
  (two 3x3 convs, dropout, 9216-128-10, Adadelta lr 1.0, StepLR gamma 0.7 per epoch, batch 64,
  per-sample ToTensor/Normalize through a DataLoader), evaluated on the test set after each epoch
  (figure 3). Written from that script's documented defaults, not copied.
"""

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

MEAN, STD = 0.1307, 0.3081
EXAMPLES_EPOCHS = 14  # pytorch/examples' default: the reference loop trains at most this long


def plain_epoch(
    model,
    optimizer,
    scheduler,
    images,
    labels,
    batch_size,
    *,
    label_smoothing=0.0,
    amp=None,
    channels_last=False,
    generator=None,
) -> int:
    """One shuffled epoch over uint8 `images` already in memory; returns the number of steps."""
    model.train()
    order = torch.randperm(len(images), generator=generator)
    steps = 0
    for start in range(0, len(images), batch_size):
        idx = order[start : start + batch_size]
        x = (images[idx].float() / 255 - MEAN) / STD
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=amp or torch.bfloat16, enabled=amp is not None):
            loss = F.cross_entropy(model(x), labels[idx], label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        steps += 1
    return steps


class ExamplesNet(nn.Module):
    """The network of pytorch/examples' MNIST script, by its documented shape."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3), nn.Conv2d(32, 64, 3)
        self.drop1, self.drop2 = nn.Dropout(0.25), nn.Dropout(0.5)
        self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = self.drop2(F.relu(self.fc1(self.drop1(x).flatten(1))))
        return F.log_softmax(self.fc2(x), dim=1)


def examples_reference(root: Path, epochs: int, target: float, seed: int = 1, device: str = "cpu") -> dict:
    """Train with pytorch/examples' defaults until test accuracy >= target or `epochs` pass.

    Returns per-epoch test accuracy with the cumulative training seconds (test time excluded,
    in the reference's favour) and the seconds at which it first reached `target` (None if not).
    """
    from torchvision import datasets, transforms

    torch.manual_seed(seed)
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
    train = torch.utils.data.DataLoader(datasets.MNIST(root, train=True, transform=tf), batch_size=64, shuffle=True)
    test = torch.utils.data.DataLoader(datasets.MNIST(root, train=False, transform=tf), batch_size=1000)
    model = ExamplesNet().to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    seconds, points, reached = 0.0, [], None
    for _ in range(epochs):
        started = time.perf_counter()
        model.train()
        for x, y in train:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            F.nll_loss(model(x), y).backward()
            optimizer.step()
        scheduler.step()
        seconds += time.perf_counter() - started
        model.eval()
        with torch.no_grad():
            correct = sum((model(x.to(device)).argmax(1).cpu() == y).sum().item() for x, y in test)
        accuracy = correct / len(test.dataset)
        points.append((round(seconds, 1), accuracy))
        if accuracy >= target:
            reached = seconds
            break
    return {"points": points, "seconds_to_target": reached, "epoch_seconds": seconds / len(points)}
