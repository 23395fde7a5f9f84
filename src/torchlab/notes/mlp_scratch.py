"""A 784-200-200-10 classifier from raw tensors: forward, training loop and test loop.

Corrected from the notes: no ReLU on the logits (CrossEntropyLoss needs them unbounded); weights
initialised with kaiming_normal_ (plain randn makes logits with a standard deviation in the
thousands, against about 3); the test loss averaged over samples (the notes divide a sum of batch
means by the number of samples) and `correct` as an int; the test loop's tab and unclosed print(
do not parse. Also changed: the notes leave learning_rate, epochs and the batch size undefined:
lr 0.01, one epoch, batches of 200 here; MNIST is read whole from the data root and normalised as
the notes' transform does, in batches sliced from tensors (as fast as slicing) instead of a
torchvision DataLoader; `logits.argmax(1)` under torch.no_grad() replaces `logits.data.max(1)[1]`.
"""

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

from torchlab.notes import show
from torchlab.notes._data import blobs
from torchlab.notes._mnist import mnist, normalized

ORDER = 140
BLOCKS = ("网络结构", "训练", "测试实战")

Params = list[torch.Tensor]


def init_params(kaiming: bool = True, seed: int = 0) -> Params:
    """[w1, b1, w2, b2, w3, b3]; kaiming=False is the notes' plain torch.randn."""
    torch.manual_seed(seed)
    params = []
    for n_out, n_in in [(200, 784), (200, 200), (10, 200)]:
        w = torch.randn(n_out, n_in)
        if kaiming:
            nn.init.kaiming_normal_(w)
        params += [w.requires_grad_(), torch.zeros(n_out, requires_grad=True)]
    return params


def forward(x: torch.Tensor, params: Params, relu_logits: bool = False) -> torch.Tensor:
    w1, b1, w2, b2, w3, b3 = params
    x = F.relu(x @ w1.t() + b1)
    x = F.relu(x @ w2.t() + b2)
    x = x @ w3.t() + b3
    return F.relu(x) if relu_logits else x  # relu_logits=True is the notes' mistake


def train(params: Params, train_loader: DataLoader, epochs: int = 2, lr: float = 0.01) -> list[float]:
    """The notes' loop; returns the loss of every step."""
    optimizer = optim.SGD(params, lr=lr)
    criteon = nn.CrossEntropyLoss()
    losses = []
    for _ in range(epochs):
        for data, target in train_loader:
            loss = criteon(forward(data.view(-1, 28 * 28), params), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


@torch.no_grad()
def test(params: Params, test_loader: DataLoader) -> dict[str, float]:
    """Average loss per sample and accuracy; `notes_loss` is the notes' (batch_size times too small)."""
    total, notes_sum, correct = 0.0, 0.0, 0
    for data, target in test_loader:
        logits = forward(data.view(-1, 28 * 28), params)
        total += F.cross_entropy(logits, target, reduction="sum").item()
        notes_sum += F.cross_entropy(logits, target).item()
        correct += logits.argmax(dim=1).eq(target).sum().item()
    n = len(test_loader.dataset)
    return {"loss": total / n, "notes_loss": notes_sum / n, "accuracy": correct / n}


def batches(dataset: TensorDataset, size: int, shuffle: bool = False) -> DataLoader:
    """A DataLoader that indexes whole batches at once (as fast as slicing the tensors)."""
    order = RandomSampler(dataset, generator=torch.Generator().manual_seed(0)) if shuffle else range(len(dataset))
    return DataLoader(dataset, batch_size=None, sampler=BatchSampler(order, size, drop_last=False))


def main() -> None:
    x = blobs(200)[:][0]
    for kaiming in (False, True):
        logits = forward(x, init_params(kaiming))
        show(f"logit std at init, kaiming={kaiming}", round(logits.std().item(), 2))
    show("min logit with the notes' final ReLU", forward(x, init_params(), relu_logits=True).min().item())
    params = init_params()
    (x_train, y_train), (x_test, y_test) = mnist(True), mnist(False)  # the real MNIST, from the data root
    train_db = TensorDataset(normalized(x_train).flatten(1), y_train)
    test_db = TensorDataset(normalized(x_test).flatten(1), y_test)
    losses = train(params, batches(train_db, 200, shuffle=True), epochs=1)
    show(
        "one epoch on MNIST (60,000 images, batch 200): loss, first step -> last step",
        (round(losses[0], 3), round(losses[-1], 3)),
    )
    result = test(params, batches(test_db, 1000))
    n = len(test_db)
    print(
        f"Test set: Average loss: {result['loss']:.4f}, Accuracy: {round(result['accuracy'] * n)}/{n} "
        f"({100.0 * result['accuracy']:.0f}%)"
    )
    show("the notes' 'average' loss (sum of batch means / N)", round(result["notes_loss"], 4))
