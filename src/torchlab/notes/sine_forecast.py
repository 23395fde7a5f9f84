"""Time-series forecasting: an RNN learns to predict the next point of a sine wave.

The notes' sample data, network, training loop and prediction loop, with the hidden state carried
over and detached between iterations. The notes leave num_time_steps, input_size, hidden_size,
output_size and lr undefined: here num_time_steps=50, hidden_size=16 and lr=0.01, the course's
values (recipe course-sine-rnn), input and output size 1. It trains 1000 iterations, not the
notes' 6000: the loss is down by then and `torchlab notes` stays quick. Also changed: `self.run`
is `self.rnn`; the start is drawn from a seeded numpy Generator (np.random.randint, unseeded,
differs on every run); the loss of every 100th iteration prints after training, to 6 decimals; the
forecast runs under torch.no_grad() and calls its point `point`, not the builtin's name `input`.
"""

import numpy as np
import torch
from torch import nn, optim

from torchlab.notes import picture, show

ORDER = 290
BLOCKS = ("Sample data", "NetWork", "Train", "Predict")

NUM_TIME_STEPS, INPUT_SIZE, HIDDEN_SIZE, OUTPUT_SIZE, LR = 50, 1, 16, 1, 0.01
ITERATIONS = 1000  # what main() trains for


def sample(rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """x = sin at 49 points from a random start, y = the same shifted by one; both [1, 49, 1]."""
    start = rng.integers(3)
    time_steps = np.linspace(start, start + 10, NUM_TIME_STEPS)
    data = np.sin(time_steps).reshape(NUM_TIME_STEPS, 1)
    x = torch.tensor(data[:-1]).float().view(1, NUM_TIME_STEPS - 1, 1)
    y = torch.tensor(data[1:]).float().view(1, NUM_TIME_STEPS - 1, 1)
    return x, y


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.RNN(input_size=INPUT_SIZE, hidden_size=HIDDEN_SIZE, num_layers=1, batch_first=True)
        for p in self.rnn.parameters():
            nn.init.normal_(p, mean=0.0, std=0.001)
        self.linear = nn.Linear(HIDDEN_SIZE, OUTPUT_SIZE)

    def forward(self, x: torch.Tensor, hidden_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, hidden_prev = self.rnn(x, hidden_prev)
        out = self.linear(out.view(-1, HIDDEN_SIZE))  # [b, seq, h] => [seq, h] => [seq, 1]
        return out.unsqueeze(dim=0), hidden_prev  # => [1, seq, 1]


def train(iterations: int = 1000, seed: int = 0) -> tuple[Net, torch.Tensor, list[float]]:
    """Train the notes' way; returns the model, the last hidden state and the loss every 100 iterations."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model, criterion = Net(), nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=LR)
    hidden_prev, losses = torch.zeros(1, 1, HIDDEN_SIZE), []
    for it in range(iterations):
        x, y = sample(rng)
        output, hidden_prev = model(x, hidden_prev)
        hidden_prev = hidden_prev.detach()
        loss = criterion(output, y)
        model.zero_grad()
        loss.backward()
        optimizer.step()
        if it % 100 == 0:
            losses.append(loss.item())
    return model, hidden_prev, losses


@torch.no_grad()
def predict(model: Net, x: torch.Tensor, hidden_prev: torch.Tensor) -> torch.Tensor:
    """Feed the first point, then each prediction back in: a free-running forecast of len(x) points."""
    predictions, point = [], x[:, 0, :]
    for _ in range(x.shape[1]):
        pred, hidden_prev = model(point.view(1, 1, 1), hidden_prev)
        point = pred
        predictions.append(pred.item())
    return torch.tensor(predictions)


def main() -> None:
    model, hidden_prev, losses = train(ITERATIONS)
    for i, loss in enumerate(losses):
        print(f"Iteration: {i * 100} loss {loss:.6f}")
    x, y = sample(np.random.default_rng(1))
    pred = predict(model, x, hidden_prev)
    show("free-running forecast: mean |pred - y| over 49 steps", round((pred - y.flatten()).abs().mean().item(), 4))
    draw(x, pred)


def draw(x: torch.Tensor, pred: torch.Tensor) -> None:
    """The notes' plot: the wave's samples (x) and the free-running predictions one step later."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.linspace(0, 10, NUM_TIME_STEPS)  # the wave's own start is hidden: time from 0
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.scatter(t[:-1], x.flatten(), s=40, label="sine samples x")
    ax.plot(t[:-1], x.flatten())
    ax.scatter(t[1:], pred, s=14, c="tab:red", label="predicted, each fed back")
    ax.set_xlabel("t")
    ax.legend()
    fig.tight_layout()
    path = picture("sine_forecast.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    show("the waves drawn in", path)
