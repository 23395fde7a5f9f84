"""A project end to end: custom Dataset, best checkpoint, early stopping, transfer learning.

The notes' loop never updates best_acc, so it overwrites best.mdl at every validation that beats
the initial value, not only at a new best. resnet18(pretrained=True) is deprecated: use
weights=ResNet18_Weights.DEFAULT (weights=None here: no download). best.mdl loads with
weights_only=True (a plain torch.load of a file from elsewhere may run code).

What the notes leave undefined is made up: train_data/test_data are ranges of numbers, the model an
MLP on made-up data (notes/_data.py), out_of_patience() a BestKeeper with patience 2. It validates
every epoch of 6, not every 10th (there would be one validation), and `evalute` is `evaluate`.
The notes' loop mixes tabs into its indentation: as written it is a TabError.
"""

import tempfile
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.models import ResNet18_Weights, resnet18

from torchlab.notes import show
from torchlab.notes._data import blobs
from torchlab.notes.linear_layers import MLP
from torchlab.notes.modules import Flatten

ORDER = 320
BLOCKS = ("Step1.Load data", "Step3.Train and Test", "Step4.Transfer learning")


class NumbersDataset(Dataset):
    """The notes' custom Dataset: __len__ and __getitem__ over a list of samples."""

    def __init__(self, training: bool = True) -> None:
        self.samples = list(range(1000, 2000)) if training else list(range(100))

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, idx: int) -> int:
        return self.samples[idx]


class BestKeeper:
    """Save on a new best validation accuracy; stop after `patience` validations without one."""

    def __init__(self, patience: int, update_best: bool = True) -> None:
        self.patience, self.update_best = patience, update_best  # update_best=False: the notes' bug
        self.best_acc, self.since_best = 0.0, 0

    def step(self, val_acc: float) -> tuple[bool, bool]:
        """(save the model now, stop training now)."""
        save = val_acc > self.best_acc
        if save and self.update_best:
            self.best_acc = val_acc
        self.since_best = 0 if val_acc >= self.best_acc else self.since_best + 1
        return save, self.since_best >= self.patience


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct = sum((model(x).argmax(1) == y).sum().item() for x, y in loader)
    return correct / len(loader.dataset)


def fit(epochs: int = 6, patience: int = 2, seed: int = 0) -> tuple[float, list[float]]:
    """Train the MLP on made-up data keeping best.mdl; test accuracy of the best weights, val history."""
    torch.manual_seed(seed)
    model, keeper, history = MLP(), BestKeeper(patience), []
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    train_loader = DataLoader(blobs(500), batch_size=50, shuffle=True)
    val_loader, test_loader = (
        DataLoader(blobs(200, seed=1), batch_size=200),
        DataLoader(blobs(200, seed=2), batch_size=200),
    )
    with tempfile.TemporaryDirectory() as tmp:
        best = Path(tmp) / "best.mdl"
        for _ in range(epochs):
            model.train()
            for x, y in train_loader:
                loss = nn.functional.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            history.append(evaluate(model, val_loader))
            save, stop = keeper.step(history[-1])
            if save:
                torch.save(model.state_dict(), best)
            if stop:
                break
        model.load_state_dict(torch.load(best, weights_only=True))
    return evaluate(model, test_loader), history


def transfer_model(num_classes: int = 5, weights: ResNet18_Weights | None = None) -> nn.Sequential:
    """ResNet-18 without its last layer (features [b, 512, 1, 1]), flattened, then a new Linear."""
    trained_model = resnet18(weights=weights)
    return nn.Sequential(*list(trained_model.children())[:-1], Flatten(), nn.Linear(512, num_classes))


def main() -> None:
    train_db, test_db = NumbersDataset(training=True), NumbersDataset(training=False)
    show("len(NumbersDataset()), [0], len(test)", (len(train_db), train_db[0], len(test_db)))
    test_acc, history = fit()
    show("val accuracy per epoch", [round(a, 3) for a in history])
    show("test accuracy of best.mdl", test_acc)
    model = transfer_model()
    x = torch.rand(2, 3, 32, 32)
    show("ResNet-18 body output shape", tuple(model[:-2](x).shape))
    show("transfer model output shape", tuple(model(x).shape))
    show("pretrained weights (downloaded on first use)", f"resnet18(weights={ResNet18_Weights.DEFAULT})")
