"""Recurrent models as the notes list them, cell stacks, gradient clipping, and short sine runs."""

import json

import pytest
import torch
from torch import nn

import torchlab
from torchlab.cli import main
from torchlab.core.errors import TorchlabError
from torchlab.data import DataInfo, build_data
from torchlab.engine.trainer import Trainer
from torchlab.models import MODELS, build_model
from torchlab.models.cells import CellStack
from torchlab.recipes import load_recipe

# A few hundred short sequences: seconds of training, still far beyond a persistence forecast.
QUICK_SINE = ["--logger", "none", "data.sequences=2000", "data.test_sequences=200", "train.epochs=4"]


def test_rnn_shapes_as_in_the_notes():
    rnn = nn.RNN(100, 10, num_layers=1)
    assert set(rnn._parameters) == {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}
    x = torch.randn(10, 3, 100)  # [word num, b, word vec]
    out, h = rnn(x, torch.zeros(1, 3, 10))
    assert out.shape == (10, 3, 10) and h.shape == (1, 3, 10)

    lstm = nn.LSTM(input_size=100, hidden_size=20, num_layers=4)
    out, (h, c) = lstm(x)
    assert out.shape == (10, 3, 20) and h.shape == c.shape == (4, 3, 20)


@pytest.mark.parametrize(("cell", "lstm"), [("rnn", False), ("lstm", True)])
def test_two_cell_stacks_as_in_the_notes(cell, lstm):
    """cell1(100 -> 30), cell2(30 -> 20): the second cell reads h1 (the notes feed it xt, which fails)."""
    stack = CellStack(cell, 100, [30, 20])
    out, state = stack(torch.randn(3, 10, 100))  # batch first
    assert out.shape == (3, 10, 20)
    h1, h2 = (s[0] if lstm else s for s in state)
    assert h1.shape == (3, 30) and h2.shape == (3, 20)
    if lstm:
        assert state[0][1].shape == (3, 30) and state[1][1].shape == (3, 20)
    assert torch.equal(out[:, -1], h2)


def test_two_layer_lstmcell_stack_equals_nn_lstm_with_the_same_weights():
    torch.manual_seed(0)
    lstm = nn.LSTM(100, 20, num_layers=2, batch_first=True)
    stack = CellStack("lstm", 100, [20, 20])
    with torch.no_grad():
        for k, cell in enumerate(stack.cells):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).copy_(getattr(lstm, f"{name}_l{k}"))
    x = torch.randn(3, 10, 100)
    h0, c0 = torch.randn(2, 3, 20), torch.randn(2, 3, 20)
    out, (h, c) = lstm(x, (h0, c0))
    cell_out, state = stack(x, [(h0[k], c0[k]) for k in range(2)])
    torch.testing.assert_close(cell_out, out)
    torch.testing.assert_close(torch.stack([s[0] for s in state]), h)
    torch.testing.assert_close(torch.stack([s[1] for s in state]), c)


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "rnn-cells", "lstm-cells", "gru-cells"])
def test_forecasters_map_a_sequence_to_next_values_and_return_their_state(name):
    cfg = MODELS.config_class(name, object)(name=name)
    model = build_model(cfg, DataInfo((49, 1)))
    x = torch.randn(4, 49, 1)
    y, state = model(x)
    assert y.shape == (4, 49, 1)
    y2, _ = model(x[:, :1], state)  # continues from the returned state
    assert y2.shape == (4, 1, 1)


def test_clip_grad_norm_bounds_the_global_norm(tmp_path):
    max_norm = 0.1
    cfg = load_recipe("sine-lstm", ["data.sequences=200", f"train.clip_grad_norm={max_norm}"])
    trainer = Trainer(cfg, tmp_path)
    x, y = next(iter(trainer.data.train_loader(trainer.generator)))
    loss = 1000 * torch.nn.functional.mse_loss(trainer.model(x)[0], y)
    params = [p for p in trainer.model.parameters()]
    raw = torch.autograd.grad(loss, params, retain_graph=True)
    raw_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in raw]))
    assert raw_norm > 10 * max_norm  # so that clipping has something to do

    trainer.optimize(loss)
    clipped = [p.grad for p in params]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in clipped]))
    assert norm == pytest.approx(max_norm, rel=1e-4)
    for before, after in zip(raw, clipped, strict=True):  # one global scale, not per parameter
        torch.testing.assert_close(after, before * (max_norm / raw_norm), rtol=1e-4, atol=1e-8)


def persistence_mse(recipe: str) -> float:
    """The MSE of forecasting 'the next value equals this one' on the test set: a baseline."""
    x, y = build_data(load_recipe(recipe, QUICK_SINE[2:]).data, torch.device("cpu")).test
    return torch.nn.functional.mse_loss(x, y).item()


@pytest.mark.slow
def test_short_sine_run_beats_persistence_and_plots_the_forecast(tmp_path):
    recipe = "sine-lstm"
    out = tmp_path / recipe
    assert main(["train", recipe, "--out", str(out), *QUICK_SINE]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["monitor"]["metric"] == "val.loss"
    assert summary["test"]["loss"] < persistence_mse(recipe) / 4
    assert summary["test"]["free_mse"] < 0.5  # a sine's variance: the free run stays on the wave
    assert (out / "plots" / "sine_forecast.png").stat().st_size > 10_000
    # predict: sequences of any length, one value per step; another feature count is refused by name
    run = torchlab.load(out)
    waves = torch.sin(torch.linspace(0, 6, 31)).view(1, 31, 1)
    predicted = run.predict(waves[:, :-1])  # each next value; the first few steps warm the state up
    assert predicted.shape == (1, 30, 1) and torch.allclose(predicted[:, 5:], waves[:, 6:], atol=0.1)
    with pytest.raises(TorchlabError, match=r"predict takes inputs of shape \[N, T, 1\], got \[3, 20, 2\]"):
        run.predict(torch.zeros(3, 20, 2))


def test_carried_hidden_state_is_detached_between_batches(tmp_path):
    cfg = load_recipe("sine-rnn", ["data.sequences=300", "train.epochs=1", "task.hidden=carry", "log.loggers=[]"])
    trainer = Trainer(cfg, tmp_path)
    trainer.fit()  # a state still attached to the last batch's graph would fail the second backward
    state = trainer.task.state
    assert state is not None and not state.requires_grad and state.shape == (1, trainer.task.state_batch, 64)
