"""The notes, runnable: every section runs, asserts what the notes state, or the truth where they are wrong.

Tests named test_correction_* back the entries of docs/corrections.md.
"""

import itertools
import math
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.conftest import ROOT, run_cli
from torchlab import cli, notes
from torchlab.notes import (
    _mnist,
    activations,
    augmentation,
    backprop,
    batchnorm_eval,
    broadcasting,
    cat_split,
    convolution,
    creation,
    cross_entropy,
    data_split,
    densenet,
    device,
    dropout,
    embedding,
    entropy,
    gan,
    grad_clip,
    indexing,
    kfold,
    linear_layers,
    lstm,
    math_ops,
    mlp_scratch,
    modules,
    momentum_lr,
    mse,
    normalization,
    overfitting,
    pooling,
    project,
    regularization,
    resnet,
    rnn,
    sine_forecast,
    softmax,
    statistics,
    tensor_types,
    vae_kl,
    views,
    visualization,
)
from torchlab.notes._data import blobs, loader
from torchlab.notes._headings import HEADINGS

NOTES = ROOT.parent / "shared" / "notes" / "pytorch-notes.md"  # beside the repo, as in CI; never copied in


def notes_code_blocks(path: Path) -> list[tuple[int, str]]:
    """(line, label) of every fenced code block; the label is the nearest heading or bold line above it."""
    blocks, label, inside = [], "", False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if text.startswith("```"):
            if not inside:
                blocks.append((number, label))
            inside = not inside
        elif not inside and (m := re.match(r"#+\s*(.+)", text) or re.fullmatch(r"\*\*(.+?)\*\*", text)):
            label = m.group(1)
    return blocks


# --- every section runs, and the command line ------------------------------------------------------------------


def real_data(module) -> bool:
    """Sections that read the real MNIST (notes/_mnist.py) train for seconds: marked slow."""
    return getattr(module, "mnist", None) is _mnist.mnist


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=[pytest.mark.slow] if real_data(m) else []) for n, m in notes.sections().items()],
)
def test_every_section_runs_and_prints(name, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(sine_forecast, "ITERATIONS", 200)  # 1000 for a user; 200 run the same loop
    monkeypatch.setenv("TORCHLAB_NOTES_PICTURES", str(tmp_path))
    notes.run(name)
    assert len(capsys.readouterr().out.splitlines()) >= 2


def test_an_empty_pictures_variable_is_unset_as_torchlab_data_is(capsys, monkeypatch, tmp_path):
    """Before: TORCHLAB_NOTES_PICTURES="" put a section's pictures into the working directory itself."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCHLAB_NOTES_PICTURES", "")
    notes.run("overfitting")
    assert [p.relative_to(tmp_path) for p in tmp_path.rglob("*.png")] == [
        Path("runs/notes/overfitting/overfitting.png")
    ]


def test_notes_command_lists_sections_and_rejects_unknown(capsys):
    assert cli.main(["notes"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == list(notes.sections())
    assert cli.main(["notes", "softmx"]) == 2
    assert "did you mean 'softmax'" in capsys.readouterr().err


@pytest.mark.slow
def test_notes_command_runs_a_section_in_a_fresh_process():
    result = run_cli("notes", "softmax")
    assert result.returncode == 0, result.stderr
    assert "p_i (delta_ij - p_j)" in result.stdout


def test_corrections_doc_names_only_tests_that_exist():
    doc = (ROOT / "docs" / "corrections.md").read_text(encoding="utf-8")
    assert len(re.findall(r"^\| \d+ \| ", doc, re.M)) >= 15
    assert set(re.findall(r"`(test_correction_\w+)`", doc)) == {
        n for n in globals() if n.startswith("test_correction_")
    }


def test_every_code_block_of_the_notes_has_a_runnable_counterpart():
    blocks = notes_code_blocks(NOTES)
    assert len(blocks) == 46
    owner = {label: name for name, module in notes.sections().items() for label in module.BLOCKS}
    assert [label for _, label in blocks if label not in owner] == []
    table = (ROOT / "docs" / "notes-coverage.md").read_text(encoding="utf-8")
    for number, (line, label) in enumerate(blocks, 1):
        assert f"| {number} | {line} | {label} | `{owner[label]}` |" in table


# --- what the notes state ---------------------------------------------------------------------------------------


def test_embedding_lookup_is_a_row_of_the_table():
    table = embedding.pretrained_table()
    assert torch.equal(embedding.lookup("world", table), table.weight[1:2])


def test_indexing_shapes_and_masked_select():
    shapes = {k: tuple(v.shape) for k, v in indexing.examples(torch.rand(4, 3, 28, 28)).items()}
    assert list(shapes.values()) == [(4, 3, 14, 28), (2, 3, 28, 28), (3, 28, 28), (3, 28, 28)]
    assert indexing.masked(torch.tensor([[0.1, 0.7], [0.5, 0.2]])).tolist() == pytest.approx([0.7, 0.5])


def test_expand_shares_memory_repeat_copies():
    b = torch.rand(1, 32, 1, 1)
    expanded, repeated = views.expand_vs_repeat(b)
    assert torch.equal(expanded, repeated) and expanded.shape == (4, 32, 14, 14)
    assert expanded.data_ptr() == b.data_ptr() and repeated.data_ptr() != b.data_ptr()
    a = torch.rand(4, 3, 28, 28)
    assert torch.equal(views.transpose_round_trip(a), a)


def test_views_transpose_and_the_notes_permute_are_not_numpys_layout(capsys):
    """The notes' permute(0, 2, 1, 3) was replaced by permute(0, 2, 3, 1) without a word."""
    views.main()
    out = capsys.readouterr().out
    assert "a.permute(0, 2, 1, 3).shape (the notes': [b, h, c, w]): (4, 28, 1, 28)" in out
    assert "a.transpose(1, 3).shape ([b, w, h, c]): (4, 28, 28, 1)" in out
    assert "a.permute(0, 2, 3, 1).shape ([b, h, w, c]): (4, 28, 28, 1)" in out


def test_matmul_broadcasts_over_leading_dims():
    x, w = torch.rand(4, 3, 28, 64), torch.rand(4, 1, 64, 32)
    assert torch.allclose((x @ w)[2, 1], x[2, 1] @ w[2, 0])


def test_statistics_topk_kthvalue_gather():
    a = torch.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]])
    assert a.topk(2, dim=1).values.tolist() == [[5.0, 3.0], [6.0, 4.0]]
    assert a.kthvalue(2, dim=1).values.tolist() == [3.0, 4.0]
    index = torch.tensor([[2, 0], [1, 1]])
    assert statistics.gather_labels(a, index, torch.tensor([10, 11, 12])).tolist() == [[12, 10], [11, 11]]


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_activation_derivatives_match_autograd(name):
    closed, auto = activations.derivatives(name, torch.linspace(-6, 6, 101))
    assert torch.allclose(closed, auto, atol=1e-6)


def test_sigmoid_gradient_vanishes_at_both_ends():
    closed, _ = activations.derivatives("sigmoid", torch.tensor([-20.0, 0.0, 20.0]))
    assert closed[1] == 0.25 and closed[0] < 1e-8 and closed[2] < 1e-8


def test_autograd_grad_equals_backward():
    grads, stored = mse.grad_vs_backward(torch.randn(8, 3), torch.randn(8, 1))
    for g, s in zip(grads, stored, strict=True):
        assert torch.allclose(g, s)


def test_cross_entropy_is_entropy_plus_kl():
    p, q = torch.tensor([0.1, 0.2, 0.7]), torch.tensor([0.3, 0.3, 0.4])
    assert entropy.cross_entropy(p, q) == pytest.approx((entropy.entropy(p) + entropy.kl(p, q)).item(), abs=1e-6)
    assert entropy.kl(p, p).item() == pytest.approx(0.0, abs=1e-7)
    logits, target = torch.tensor([[2.0, 0.5, -1.0]]), torch.tensor([0])
    one_hot = F.one_hot(target, 3).float()
    assert F.cross_entropy(logits, target).item() == pytest.approx(
        entropy.cross_entropy(one_hot, logits.softmax(1)).item()
    )


def test_softmax_jacobian_matches_autograd():
    a = torch.randn(6)
    assert torch.allclose(softmax.jacobian_closed_form(a), softmax.jacobian_autograd(a), atol=1e-6)


def test_device_loop_runs_on_the_picked_device():
    loss, where = device.one_epoch(device.pick_device())
    assert where.type == device.pick_device().type and math.isfinite(loss)


def test_mlp_from_scratch_learns():
    params = mlp_scratch.init_params()
    losses = mlp_scratch.train(params, loader(blobs(1000)), epochs=1)
    assert losses[-1] < losses[0] / 3
    assert mlp_scratch.test(params, loader(blobs(500, seed=1), shuffle=False))["accuracy"] > 0.5


def test_random_split_is_disjoint_and_seeded():
    dataset = torch.utils.data.TensorDataset(torch.arange(600))
    train_part, val_part = data_split.split(dataset, [500, 100])
    assert sorted(train_part + val_part) == list(range(600))
    assert data_split.split(dataset, [500, 100]) == [train_part, val_part]


def test_weight_decay_is_half_lambda_squared_norm_penalty():
    torch.manual_seed(0)
    net, x, y = nn.Linear(20, 3), torch.randn(16, 20), torch.randint(0, 3, (16,))
    decayed, penalised = (
        regularization.sgd_step(net, x, y, weight_decay=0.01),
        regularization.sgd_step(net, x, y, l2=0.01),
    )
    assert regularization.max_difference(decayed, penalised) < 1e-7
    assert regularization.max_difference(decayed, regularization.sgd_step(net, x, y)) > 1e-5
    l1_step, plain = regularization.sgd_step(net, x, y, l1=0.01), regularization.sgd_step(net, x, y)
    assert torch.allclose(l1_step.weight - plain.weight, -0.1 * 0.01 * net.weight.sign(), atol=1e-7)


def test_sgd_momentum_is_the_notes_formula():
    sgd, by_hand = momentum_lr.momentum_paths(steps=20)
    assert torch.allclose(sgd, by_hand, atol=1e-6)


def test_reduce_lr_on_plateau_divides_by_ten_after_patience():
    lrs = momentum_lr.plateau_lrs([1.0, 0.9, 0.9, 0.9, 0.9], patience=2)
    assert lrs == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.01])


def test_dropout_scales_survivors_and_is_off_in_eval():
    zeros, mean = dropout.dropout_stats(0.5, train=True)
    assert zeros == pytest.approx(0.5, abs=0.01) and mean == pytest.approx(1.0, abs=0.02)
    assert dropout.dropout_stats(0.5, train=False) == (0.0, 1.0)


def test_conv_output_size_formula():
    x = torch.rand(1, 1, 28, 28)
    for kernel, stride, padding in [(3, 1, 0), (5, 1, 1), (3, 2, 1), (4, 3, 2)]:
        out = nn.Conv2d(1, 2, kernel, stride=stride, padding=padding)(x)
        assert out.shape[-1] == convolution.out_size(28, kernel, stride, padding)


def test_pooling_and_nearest_upsampling():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert nn.MaxPool2d(2, stride=2)(x).flatten().tolist() == [5, 7, 13, 15]
    assert F.avg_pool2d(x, 2, stride=2).flatten().tolist() == [2.5, 4.5, 10.5, 12.5]
    up = F.interpolate(torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]), scale_factor=2, mode="nearest")
    assert up[0, 0, :2, :2].unique().tolist() == [1.0] and up.shape == (1, 1, 4, 4)


def test_modules_save_load_and_own_layers(tmp_path):
    net = modules.TestNet()
    x = torch.rand(2, 1, 28, 28)
    loaded = modules.save_and_load(net, tmp_path / "notes-ckpt.pt")
    assert torch.equal(
        loaded(x.to(device.pick_device())).cpu(), net.to(device.pick_device())(x.to(device.pick_device())).cpu()
    )
    assert [name for name, _ in modules.MyLinear(4, 3).named_parameters()] == ["w", "b"]


def test_resblk_shapes_and_shortcut():
    x = torch.rand(2, 64, 8, 8)
    assert resnet.ResBlk(64, 64)(x).shape == (2, 64, 8, 8) and len(resnet.ResBlk(64, 64).extra) == 0
    assert resnet.ResBlk(64, 128)(x).shape == (2, 128, 8, 8)


def test_rnn_and_lstm_shapes():
    x = torch.randn(10, 3, 100)
    assert rnn.rnn_shapes(x, num_layers=2) == {"out": (10, 3, 10), "ht": (2, 3, 10)}
    assert rnn.two_cells(x).shape == (3, 20)
    assert lstm.lstm_shapes(x) == {"out": (10, 3, 20), "h": (4, 3, 20), "c": (4, 3, 20)}


def test_lstm_gate_table_and_cell_equations():
    assert [lstm.cell_state(2.0, i, f, g=0.5) for i, f in [(0, 1), (1, 1), (0, 0), (1, 0)]] == [2.0, 2.5, 0.0, 0.5]
    cell, xt, h, c = nn.LSTMCell(4, 3), torch.randn(2, 4), torch.randn(2, 3), torch.randn(2, 3)
    assert torch.allclose(lstm.cell_by_hand(cell, xt, h, c), cell(xt, (h, c))[1], atol=1e-6)


def test_sine_forecast_learns():
    model, hidden, losses = sine_forecast.train(iterations=300)
    assert losses[-1] < losses[0] / 10
    x, y = sine_forecast.sample(np.random.default_rng(1))
    assert sine_forecast.predict(model, x, hidden).shape == (49,)


def test_sine_forecast_says_the_values_the_notes_leave_undefined(capsys):
    """hidden_size 16 and lr 0.01 were used without a word (the notes define neither), view() was reshape()."""
    doc = " ".join(sine_forecast.__doc__.split())
    for name, value in [("num_time_steps", "NUM_TIME_STEPS"), ("hidden_size", "HIDDEN_SIZE"), ("lr", "LR")]:
        assert f"{name}={getattr(sine_forecast, value)}" in doc
    assert f"It trains {sine_forecast.ITERATIONS} iterations, not the notes' 6000" in doc
    assert "out.view(-1, HIDDEN_SIZE)" in notes.code("sine_forecast")  # the notes' view, which works here


def test_custom_dataset_and_transfer_model():
    assert len(project.NumbersDataset()) == 1000 and len(project.NumbersDataset(training=False)) == 100
    model = project.transfer_model(num_classes=5)
    assert model[:-2](torch.rand(2, 3, 32, 32)).shape == (2, 512, 1, 1)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 5)


def test_gan_optimal_discriminator_and_js_identity():
    p_r, p_g = torch.tensor([0.1, 0.4, 0.3, 0.2]), torch.tensor([0.3, 0.1, 0.2, 0.4])
    assert torch.allclose(gan.train_discriminator(p_r, p_g, steps=1000), gan.d_star(p_r, p_g), atol=1e-3)
    l_star = gan.value(gan.d_star(p_r, p_g), p_r, p_g)
    assert gan.js(p_r, p_g).item() == pytest.approx((math.log(4) + l_star.item()) / 2, abs=1e-6)
    assert gan.js(p_r, p_r).item() == pytest.approx(0.0, abs=1e-7)
    disjoint = gan.js(torch.tensor([0.5, 0.5, 0.0, 0.0]), torch.tensor([0.0, 0.0, 0.5, 0.5]))
    assert disjoint.item() == pytest.approx(math.log(2))


@pytest.mark.parametrize("args", [(0.0, 1.0, 0.0, 1.0), (1.0, 0.5, 0.0, 1.0), (-1.0, 2.0, 0.5, 0.7)])
def test_gaussian_kl_closed_form_vs_monte_carlo(args):
    closed = vae_kl.kl_closed_form(*args)
    assert closed == pytest.approx(vae_kl.kl_monte_carlo(*args), abs=0.05 * max(closed, 1.0))
    m, s = args[:2]
    if args[2:] == (0.0, 1.0):  # the VAE's -1/2 (1 + log s^2 - m^2 - s^2)
        assert closed == pytest.approx(-0.5 * (1 + math.log(s**2) - m**2 - s**2))


def test_reparameterisation_passes_gradients():
    torch.manual_seed(0)
    d_mu, d_log_var = vae_kl.reparameterised_grads(torch.tensor([1.0]), torch.tensor([0.0]))
    assert d_mu.item() == pytest.approx(2.0, abs=0.1) and d_log_var.item() == pytest.approx(1.0, abs=0.1)


# --- corrections (docs/corrections.md) --------------------------------------------------------------------------


def test_correction_int_becomes_long_tensor():
    types = tensor_types.tensor_types()
    assert types["int"] == types["int array"] == "torch.LongTensor"
    assert types["float"] == types["float array"] == "torch.FloatTensor"


def test_correction_lookup_key_is_hello():
    with pytest.raises(KeyError):
        embedding.lookup("helo", nn.Embedding(2, 5))
    assert embedding.lookup("hello", nn.Embedding(2, 5)).shape == (1, 5)


@pytest.mark.parametrize(
    ("wrong", "right"),
    [
        ("Torch.empty(2)", "torch.empty(2)"),
        ("Torch.FloatTensor(2, 3)", "torch.FloatTensor(2, 3)"),
        ("torch,randn(2)", "torch.randn(2)"),
        ("torch,arange(0, 10, 2)", "torch.arange(0, 10, 2)"),
        ("torch.linespace(0, 10, steps=5)", "torch.linspace(0, 10, steps=5)"),
        ("totch.masked_select(x, x.ge(0.5))", "torch.masked_select(x, x.ge(0.5))"),
        ("list(xrange(3))", "list(range(3))"),
    ],
)
def test_correction_typos_do_not_run(wrong, right):
    scope = {"torch": torch, "x": torch.rand(3)}
    with pytest.raises((NameError, AttributeError)):
        eval(wrong, scope)
    eval(right, scope)


def test_correction_numel_counts_elements_not_bytes():
    assert creation.numel_vs_bytes(torch.rand(4, 1, 28, 28)) == (3136, 3136 * 4)
    assert creation.numel_vs_bytes(torch.zeros(10, dtype=torch.float64)) == (10, 80)


def test_correction_normal_takes_std_not_variance():
    torch.manual_seed(0)
    assert creation.normal_std(4.0) == pytest.approx(4.0, rel=0.02)  # a variance of 4 would give 2


def test_correction_linspace_and_logspace_steps_count_points():
    assert torch.linspace(0, 10, steps=5).tolist() == [0, 2.5, 5, 7.5, 10]
    assert torch.logspace(0, -1, steps=10).shape == (10,)
    assert torch.allclose(torch.logspace(0, 3, steps=4, base=2), torch.tensor([1.0, 2.0, 4.0, 8.0]))


def test_correction_set_default_dtype_replaces_set_default_tensor_type():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            torch.set_default_tensor_type(torch.DoubleTensor)
        finally:
            torch.set_default_tensor_type(torch.FloatTensor)
    assert any("deprecated" in str(w.message) for w in caught)
    assert creation.default_dtype_after(torch.float64) == torch.float64
    assert torch.get_default_dtype() == torch.float32


def test_correction_view_loses_no_data():
    a = torch.rand(4, 1, 28, 28)
    assert torch.equal(views.view_round_trip(a), a)


def test_correction_broadcasting_rule():
    shape = broadcasting.FEATURE_MAP
    assert broadcasting.broadcast_shape(shape, (32, 1, 1)) == shape
    assert broadcasting.broadcast_shape(shape, (14, 14)) == shape
    assert broadcasting.broadcast_shape(shape, (32, 14, 14)) == shape  # sizes >= 2 broadcast where they match
    assert broadcasting.broadcast_shape(shape, (32,)) is None  # matched against the LAST dim (14)
    assert broadcasting.broadcast_shape(shape, (2, 32, 14, 14)) is None
    assert broadcasting.broadcast_shape((3, 1), (1, 4)) == (3, 4)  # both sides stretch


def test_correction_split_can_return_one_piece_and_chunk_at_most_n():
    c = torch.rand(6, 32, 8)
    assert cat_split.shapes(c.split(6, dim=0)) == [(6, 32, 8)]
    assert cat_split.shapes(c.chunk(4, dim=0)) == [(2, 32, 8)] * 3


def test_correction_round_is_half_to_even():
    rounded = math_ops.rounding(torch.tensor([0.5, 1.5, 2.5, -0.5]))["round"]
    assert rounded.tolist() == [0.0, 2.0, 2.0, -0.0]


def test_correction_max_keepdim_keeps_a_size_one_dim():
    assert statistics.max_shapes(torch.rand(4, 10)) == ((4,), (4, 1))
    values, indices = torch.rand(4, 10).max(dim=1)
    assert indices.dtype == torch.int64


def test_correction_where_takes_a_where_the_condition_holds():
    cond = torch.tensor([True, False])
    assert statistics.where(cond, torch.tensor([1, 1]), torch.tensor([2, 2])).tolist() == [1, 2]


def test_correction_mse_loss_is_the_mean_not_the_sum():
    forms = mse.mse_forms(torch.randn(8, 1), torch.randn(8, 1))
    assert forms["F.mse_loss(pred, y)"] == pytest.approx(forms["(y - pred).norm(2) ** 2"] / 8, rel=1e-5)
    assert forms["F.mse_loss(pred, y, reduction='sum')"] == pytest.approx(forms["(y - pred).norm(2) ** 2"], rel=1e-5)


def test_correction_higher_entropy_means_more_uncertainty():
    uniform, peaked, one_hot = torch.full((4,), 0.25), torch.tensor([0.1, 0.1, 0.1, 0.7]), torch.eye(4)[3]
    assert entropy.entropy(uniform) > entropy.entropy(peaked) > entropy.entropy(one_hot) == 0
    assert entropy.entropy(uniform).item() == pytest.approx(math.log(4))


def test_correction_bce_needs_brackets_and_is_averaged():
    y, y_hat = torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0.9, 0.2, 0.6])
    assert entropy.bce(y, y_hat).item() == pytest.approx(F.binary_cross_entropy(y_hat, y).item())
    as_written = -(y * y_hat.log()).sum() + ((1 - y) * (1 - y_hat).log()).sum()  # the minus on the first term only
    assert as_written.item() != pytest.approx(3 * entropy.bce(y, y_hat).item())


def test_correction_no_relu_on_logits():
    x = blobs(200)[:][0]
    assert mlp_scratch.forward(x, mlp_scratch.init_params(), relu_logits=True).min() == 0  # can never go negative
    assert mlp_scratch.forward(x, mlp_scratch.init_params()).min() < 0
    assert isinstance(linear_layers.MLP().model[-1], nn.Linear)


def test_correction_randn_init_explodes_the_logits():
    x = blobs(200)[:][0]
    # the docstring's "a standard deviation in the thousands, against about 3" (it said "in the hundreds")
    assert 1000 < mlp_scratch.forward(x, mlp_scratch.init_params(kaiming=False)).std() < 10000
    assert 2 < mlp_scratch.forward(x, mlp_scratch.init_params(kaiming=True)).std() < 5


@pytest.mark.parametrize(
    ("snippet", "error"),
    [
        # MLP and ResBlk: `def forward` indented by 5 spaces under a 4-space class body
        (
            "class MLP:\n    def __init__(self):\n        pass\n\n     def forward(self, x):\n        return x\n",
            IndentationError,
        ),
        # the test loop: a tab-indented line among space-indented ones, and print( never closed
        ("for d in loader:\n    loss = 0\n\tpred = 1\n", TabError),
        # the project's loop: "    \t" (4 spaces, then a tab) over an 8-space line
        ("for e in range(2):\n    if e:\n    \tif e:\n            pass\n        if e:\n            pass\n", TabError),
        ("print('{}'.format(\n    1, 2\n", SyntaxError),
    ],
)
def test_correction_notes_code_that_does_not_parse(snippet, error):
    with pytest.raises(error):
        compile(snippet, "<notes>", "exec")


def test_correction_test_loss_is_a_per_sample_mean():
    params = mlp_scratch.init_params()
    dataset = blobs(500, seed=1)
    result = mlp_scratch.test(params, loader(dataset, batch_size=100, shuffle=False))
    x, y = dataset[:]
    with torch.no_grad():
        whole = F.cross_entropy(mlp_scratch.forward(x, params), y).item()
    assert result["loss"] == pytest.approx(whole, rel=1e-5)
    assert result["notes_loss"] == pytest.approx(whole / 100, rel=1e-5)  # batch_size times too small
    assert isinstance(result["accuracy"], float)


def test_correction_tensorboard_takes_tensors(tmp_path):
    tags = visualization.log_run(tmp_path, torch.linspace(1, 0, 5), torch.rand(4, 784), torch.tensor([1, 2]))
    assert tags == {"scalars": ["train loss"], "images": ["x"], "tensors": ["pred/text_summary"]}


def test_correction_scheduler_steps_after_the_optimizer():
    right, notes_order = momentum_lr.step_lr_per_epoch(), momentum_lr.step_lr_per_epoch(scheduler_first=True)
    assert right[29] == pytest.approx(0.05) and right[30] == pytest.approx(0.005)  # the notes' own comment
    assert notes_order[29] == pytest.approx(0.005)  # one epoch early
    with pytest.warns(UserWarning, match="lr_scheduler.step"):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.05)
        torch.optim.lr_scheduler.StepLR(opt, step_size=30).step()


def test_correction_pytorch_convolution_is_cross_correlation():
    out = convolution.conv1d_vs_definitions(torch.tensor([1.0, 2.0, 3.0, 4.0, 0.0]), torch.tensor([1.0, 0.0, -1.0]))
    assert torch.equal(out["F.conv1d(x, h)"], out["sum_k x[t+k] h[k] (cross-correlation)"])
    assert torch.allclose(out["np.convolve(x, h, 'valid')"].float(), out["sum_k x[t+k] h[K-1-k] (convolution)"])
    assert not torch.equal(out["F.conv1d(x, h)"], out["sum_k x[t+k] h[K-1-k] (convolution)"])


def test_correction_relu_inplace_overwrites_values():
    after, same_storage = pooling.relu_inplace(torch.tensor([-1.0, 0.5, -2.0, 3.0]))
    assert after.tolist() == [0.0, 0.5, 0.0, 3.0] and same_storage


def test_correction_batchnorm_output_has_mean_beta_and_std_gamma():
    y, _ = normalization.batchnorm_step(torch.rand(100, 4, 50) * 5 + 3, gamma=2.0, beta=0.5)
    assert y.mean(dim=(0, 2)).tolist() == pytest.approx([0.5] * 4, abs=1e-4)
    assert y.var(dim=(0, 2), unbiased=False).tolist() == pytest.approx([4.0] * 4, rel=1e-3)  # gamma^2, not gamma


def test_correction_batchnorm_running_var_is_unbiased():
    x = torch.rand(10, 3, 5)
    _, layer = normalization.batchnorm_step(x)
    assert torch.allclose(layer.running_mean, 0.1 * x.mean(dim=(0, 2)))
    assert torch.allclose(layer.running_var, 0.9 + 0.1 * x.var(dim=(0, 2), unbiased=True))


def test_correction_resblk_must_call_super_init():
    class NotesResBlk(nn.Module):
        def __init__(self):
            self.conv1 = nn.Conv2d(1, 1, 3)

    with pytest.raises(AttributeError, match="before Module.__init__"):
        NotesResBlk()
    assert len(list(resnet.ResBlk(3, 8).parameters())) > 0


def test_correction_load_with_map_location(tmp_path, monkeypatch):
    from torch import serialization

    path = tmp_path / "ckpt.md1"
    with monkeypatch.context() as patch:  # a checkpoint as a GPU machine writes it: storages tagged cuda:0
        patch.setattr(serialization, "location_tag", lambda storage: "cuda:0")
        torch.save(nn.Linear(2, 1).state_dict(), path)
    net = nn.Linear(2, 1)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            net.load_state_dict(torch.load(path))  # the notes' line, on a machine without a GPU
    net.load_state_dict(torch.load(path, map_location="cpu"))  # the correction
    torch.save({"weights": torch.ones(1), "code": print}, tmp_path / "evil.md1")  # a pickled callable
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(tmp_path / "evil.md1")  # since PyTorch 2.6 the plain call refuses it too
    model = modules.TestNet()
    assert modules.save_and_load(model, tmp_path / "ckpt.pt").state_dict().keys() == model.state_dict().keys()


def test_correction_testnet():
    with pytest.raises(TypeError):
        nn.Conv2d(1, 16, stride=1, padding=1)  # no kernel_size
    notes_net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.MaxPool2d(2, 2), modules.Flatten(), nn.Linear(14 * 14, 10)
    )
    with pytest.raises(RuntimeError):
        notes_net(torch.rand(2, 1, 28, 28))
    assert isinstance(modules.TestNet(), nn.Module) and modules.TestNet()(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_correction_rotation_by_one_of_three_angles():
    with pytest.raises(ValueError):
        augmentation.rotation_from_notes()
    corner = torch.zeros(1, 3, 3)
    corner[0, 0, 0] = 1.0
    seen = {tuple(augmentation.right_angles()(corner)[0].nonzero()[0].tolist()) for _ in range(60)}
    assert seen == {(2, 0), (2, 2), (0, 2)}  # 90, 180, 270 degrees: the corner visits the other three


@pytest.mark.slow  # real MNIST
def test_the_notes_noise_adds_a_tenth_of_the_pixel_range_and_keeps_each_digit(mnist_root):
    """The notes' Noise line had no code and belonged to no section."""
    images = torch.full((64, 1, 28, 28), 128, dtype=torch.uint8)
    noisy = augmentation.presets()["noise"](images)
    assert noisy.dtype == torch.uint8 and noisy.shape == images.shape
    assert (noisy.float() - 128).std().item() == pytest.approx(25.5, rel=0.05)  # 0.1 of 255
    assert not torch.equal(noisy[0], noisy[1])  # each image its own noise
    shares = augmentation.read_as_own_class()
    assert (shares["GaussianNoise(0.1)"] > shares["as they are"] - 0.1).all()


def test_correction_random_crop_28_of_mnist_does_nothing():
    image = torch.arange(28 * 28, dtype=torch.uint8).view(1, 28, 28)
    from torchvision.transforms import v2

    assert all(torch.equal(v2.RandomCrop([28, 28])(image), image) for _ in range(5))
    padded = augmentation.presets()["crop"]
    assert any(not torch.equal(padded(image), image) for _ in range(5))


def test_correction_rnn_gradient_uses_the_steps_own_input():
    torch.manual_seed(0)
    closed, auto = rnn.step_jacobian(nn.RNNCell(4, 5), torch.randn(1, 4), torch.randn(1, 5))
    assert torch.allclose(closed, auto, atol=1e-6)


def test_correction_clip_one_global_norm():
    model, before = grad_clip.exploding_grads(), grad_clip.grads(grad_clip.exploding_grads()).clone()
    assert grad_clip.clip_global(model, 10.0) > 10
    after = grad_clip.grads(model)
    assert after.norm().item() == pytest.approx(10.0, rel=1e-4)
    assert torch.cosine_similarity(before, after, 0).item() == pytest.approx(1.0, abs=1e-5)
    notes_model = grad_clip.exploding_grads()
    grad_clip.clip_per_parameter(notes_model, 10.0)
    clipped = grad_clip.grads(notes_model)
    assert clipped.norm().item() > 10.5 and torch.cosine_similarity(before, clipped, 0).item() < 0.99


def test_correction_second_lstm_cell_takes_h1():
    x = torch.randn(5, 3, 100)
    assert lstm.two_cells(x).shape == (3, 20)
    with pytest.raises(RuntimeError, match="input_size"):
        lstm.two_cells(x, feed_h1=False)


def test_correction_save_only_on_a_new_best():
    val_accs = [0.5, 0.7, 0.6, 0.65, 0.62]
    right, notes_way = project.BestKeeper(patience=10), project.BestKeeper(patience=10, update_best=False)
    assert [right.step(a)[0] for a in val_accs] == [True, True, False, False, False]
    assert [notes_way.step(a)[0] for a in val_accs] == [True] * 5  # best.mdl ends up holding epoch 4 (0.62)
    keeper = project.BestKeeper(patience=2)
    assert [keeper.step(a)[1] for a in [0.5, 0.7, 0.6, 0.65]] == [False, False, False, True]


def test_correction_resnet18_weights_not_pretrained():
    from torchvision.models import resnet18

    with pytest.warns(UserWarning) as caught:
        model = resnet18(pretrained=False)
    assert any("'pretrained' is deprecated" in str(w.message) for w in caught)
    assert model.fc.out_features == 1000  # same model as weights=None: nothing was downloaded


def test_correction_resblk_takes_a_stride_and_relus_the_sum():
    class NotesResBlk(nn.Module):  # the notes' block, with super().__init__() and the indent fixed
        def __init__(self, ch_in, ch_out):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(ch_in, ch_out, 3, 1, 1), nn.BatchNorm2d(ch_out)
            self.conv2, self.bn2 = nn.Conv2d(ch_out, ch_out, 3, 1, 1), nn.BatchNorm2d(ch_out)
            self.extra = nn.Sequential()
            if ch_out != ch_in:
                self.extra = nn.Sequential(nn.Conv2d(ch_in, ch_out, 1, 1), nn.BatchNorm2d(ch_out))

        def forward(self, x):
            out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            return self.extra(x) + out

    x = torch.randn(2, 64, 8, 8)
    with pytest.raises(TypeError):
        NotesResBlk(64, 128, stride=2)  # a stage's first block cannot halve the resolution
    assert NotesResBlk(64, 128)(x).min() < 0  # the sum goes on without a ReLU
    halved = resnet.ResBlk(64, 128, stride=2)(x)
    assert halved.shape == (2, 128, 4, 4) and halved.min() >= 0
    assert len(resnet.ResBlk(64, 64, stride=2).extra) == 2  # strided: a 1x1 conv shortcut though channels match
    assert resnet.ResBlk(64, 64, stride=2)(x).shape == (2, 64, 4, 4)


def test_correction_dropout_net_ends_in_ten_classes():
    torch.manual_seed(0)
    x = torch.randn(500, 784)
    notes_net, fixed = dropout.net_dropped(classes=200).eval(), dropout.net_dropped().eval()
    assert notes_net(x).argmax(1).max() >= 10  # predicts classes MNIST does not have
    assert fixed(x).shape == (500, 10)


def test_correction_eye_takes_integers_not_a_shape():
    with pytest.raises(TypeError):
        torch.eye([3, 3])
    assert torch.equal(torch.eye(3, 3), torch.eye(3)) and torch.eye(2, 3).shape == (2, 3)


def test_correction_step_slicing_steps_the_first_dim():
    a = torch.rand(4, 3, 28, 28)
    assert a[0:28:2].shape == (2, 3, 28, 28)  # the notes' "every other row": every other image
    assert torch.equal(a[0:28:2][1], a[2])
    assert a[:, :, 0:28:2].shape == (4, 3, 14, 28)


def test_correction_test_db_must_be_defined():
    line = "print('train', len(train_db), 'test:', len(test_db))"
    with pytest.raises(NameError, match="test_db"):
        exec(line, {"train_db": range(60000)})
    exec(line, {"train_db": range(60000), "test_db": range(10000)})


@pytest.mark.slow  # real MNIST
def test_correction_flips_and_right_angles_change_a_digits_class(mnist_root):
    shares = augmentation.read_as_own_class()
    kept = shares["as they are"]
    for turn in ("vertical flip", "turned 90°", "turned 180°"):  # the notes' augmentations
        assert (shares[turn] < kept / 2).sum() >= 7  # most digits are mostly read as another digit
    assert shares["turned 180°"][6] < 0.05 and shares["turned 180°"][9] < 0.05  # 6 and 9 swap
    assert shares["turned 90°"][1] < 0.02  # a 1 on its side is no 1 (the docstring's "never")
    assert (shares["RandomRotation(15)"] > kept - 0.1).all()  # the correction: small turns keep the class


def test_correction_taylor_is_local_least_squares_fits_the_interval():
    errors = overfitting.taylor_vs_fit(degree=20, x=2.0)
    assert errors["taylor"] > 1000 and errors["least squares"] < 1e-3
    assert overfitting.taylor_vs_fit(degree=40, x=2.0)["taylor"] > errors["taylor"]  # higher degree: worse


def test_correction_resize_is_not_random_scaling():
    from torchvision.transforms import v2

    image = torch.randint(0, 256, (1, 28, 28), dtype=torch.uint8)
    resized = [v2.Resize([32, 32])(image) for _ in range(3)]
    assert resized[0].shape == (1, 32, 32) and all(torch.equal(r, resized[0]) for r in resized)
    with pytest.raises(RuntimeError):
        torch.stack(resized * 2).float().view(-1, 28 * 28)[:6].view(6, -1).sum()  # 1024 pixels: not 784
    zoom = augmentation.presets()["scale"]
    torch.manual_seed(0)
    zoomed = [zoom(image) for _ in range(3)]
    assert zoomed[0].shape == (1, 28, 28) and not all(torch.equal(z, zoomed[0]) for z in zoomed)


def test_correction_randperm_needs_n():
    with pytest.raises(TypeError):
        torch.randperm()
    assert sorted(torch.randperm(5).tolist()) == [0, 1, 2, 3, 4]


# --- the new sections ---------------------------------------------------------------------------------------------


def test_backprop_by_hand_matches_autograd():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(16, 784, generator=g), torch.randint(0, 10, (16,), generator=g)
    params = backprop.init(seed=2)
    for hand, auto in zip(backprop.by_hand(params, x, y), backprop.by_autograd(params, x, y), strict=True):
        assert hand.shape == auto.shape and torch.allclose(hand, auto, atol=1e-6)


def test_overfitting_training_error_falls_validation_error_turns_up():
    result = overfitting.errors()
    train, val = result["train"], result["val"]
    assert all(b <= a + 1e-9 for a, b in zip(train, train[1:], strict=False))  # more degrees never fit worse
    best = int(np.argmin(val))
    assert 0 < best < len(val) - 1 and val[-1] > 10 * val[best] and val[0] > 2 * val[best]


def test_cross_entropy_is_log_softmax_plus_nll():
    g = torch.Generator().manual_seed(0)
    values = cross_entropy.decomposition(torch.randn(8, 10, generator=g), torch.randint(0, 10, (8,), generator=g))
    assert max(values.values()) - min(values.values()) < 1e-5


@pytest.mark.slow  # real MNIST
def test_double_softmax_learns_worse(mnist_root):
    plain, double = cross_entropy.train(False, steps=150), cross_entropy.train(True, steps=150)
    assert double["test loss"] > math.log((math.e + 9) / math.e) > plain["test loss"]  # its floor is 1.46 nats
    assert double["test accuracy"] < plain["test accuracy"]


def test_batchnorm_train_and_eval_differ_on_the_same_batch():
    x = torch.randn(64, 3) * 4 + 7
    fresh = batchnorm_eval.train_vs_eval(x)
    assert torch.allclose(fresh["train mean"], torch.zeros(3), atol=1e-5)
    assert torch.allclose(fresh["train std"], torch.ones(3), atol=1e-3)
    assert (fresh["eval mean"] - fresh["train mean"]).abs().min() > 1  # running stats start at 0 and 1
    # ... so eval() of an untouched layer leaves the batch as it is (x / sqrt(1 + eps)); before, the
    # train() pass measured first had already moved the running averages
    assert torch.allclose(fresh["eval mean"], x.mean(0), atol=1e-3)
    warmed = batchnorm_eval.train_vs_eval(x, warmup=100)
    assert torch.allclose(warmed["eval mean"], torch.zeros(3), atol=0.05)  # running averages caught up


@pytest.mark.slow  # real MNIST
def test_kfold_on_mnist_validates_every_image_once(mnist_root):
    parts = kfold.folds(1000, 5)
    assert sorted(torch.cat(parts).tolist()) == list(range(1000)) and [len(p) for p in parts] == [200] * 5
    scores = kfold.cross_validate(n=2000, k=4)
    assert len(scores) == 4 and min(scores) > 0.8


# a distinctive piece of each section's snippet in the notes: its range must hold it
SNIPPET_TOKENS = {
    "tensor_types": ["| Int array   | IntTensor"],
    "embedding": ["Embedding: Word2vec", 'word_to_ix["helo"]', "GloVe()"],
    "creation": ["torch.logspace(0, -1", "torch.randperm()"],
    "indexing": ["a.index_select(0", "totch.masked_select"],
    "views": ["a.view(4, 1\\*28\\*28)", "a.permute(0, 2, 1, 3)"],
    "broadcasting": ["从最后一个维度开始匹配"],
    "cat_split": ["torch.stack([a1, a2]", "c.chunk(num, dim)"],
    "math_ops": ["a.rsqrt()", "a.clamp(min[, max])"],
    "statistics": ["torch.where(cond>0.5, a, b)", "比较大小"],
    "activations": ["torch.sigmoid(a)", "torch.tanh(a)", "torch.relu(a)"],
    "mse": ["F.mse_loss(y, pred)", "w1.grad"],
    "entropy": ["熵越高越稳定", "D_{KL}(p|q)"],
    "cross_entropy": ["H(p,q) &= -\\sum{p(x)\\log q(x)}"],
    "softmax": ["p_i(\\delta_{ij}-p_j)"],
    "backprop": ["MLP-4.png"],
    "mlp_scratch": ["x = F.relu(x)\n    return x", "test_loss /= len(test_loader.dataset)"],
    "linear_layers": ["nn.LeakyReLU(inplace=True)\n        )"],
    "device": ["torch.device('cuda:0')", "target.cuda()"],
    "visualization": ["pip install tensorboardX", "viz.text("],
    "overfitting": ["泰勒展开"],
    "data_split": ["#### 交叉验证", "random_split(train_db, [50000, 10000])", "val_db,"],
    "kfold": ["#### 交叉验证", "K交叉验证"],
    "regularization": ["weight_decay=0.01", "0.01*regularization_loss"],
    "momentum_lr": ["ReduceLROnPlateau(optimizer, 'min')", "validate(...)"],
    "dropout": ["torch.nn.Linear(200, 200)\n)", "net_dropped.eval()"],
    "convolution": ["nn.Conv2d(1, 3, kernel_size=3", "F.conv2d(x, w, b"],
    "pooling": ["nn.MaxPool2d(2:", "nn.ReLU(inplace=True:"],
    "normalization": ["std=[0.229, 0.224, 0.225]", "nn.BatchNorm1d(16)", "N(\\beta, \\gamma)"],
    "batchnorm_eval": ["layer.running_mean"],
    "resnet": ["class ResBlk(nn.Module):", "out = self.extra(x) + out"],
    "densenet": ["DenseNet"],
    "modules": ["torch.load('ckpt.md1')", "class TestNet():", "x = x@self.w.t() + self.b"],
    "augmentation": [
        "RandomHorizontalFlip()",
        "RandomRotation([90, 180, 270])",
        "RandomCrop([28, 28])",
        "Noise：噪声",
        "**GAN**",
    ],
    "rnn": ["diag(f'(W_{xh}x_i", "h2 = cell2(h1, h2)"],
    "sine_forecast": ["start = np.random.randint(3", "hidden_size=hidden_size", "predictions.append("],
    "grad_clip": ["threshold", "clip_grad_norm_(p, 10)"],
    "lstm": ["forget gate", "h2, c2 = cell2(xt, [h2, c2])"],
    "project": ["class NumbersDataset(Dataset):", "best_acc", "resnet18(pretrained=True)"],
    "vae_kl": ["Reparameterization trick"],
    "gan": ["D^*(x)", "D_{JS}"],
}


def notes_headings(lines: list[str]) -> list[tuple[int, int, str]]:
    """(line, level, text) of every Markdown heading of the notes, outside code blocks."""
    found, inside = [], False
    for number, line in enumerate(lines, 1):
        inside ^= line.strip().startswith("```")
        if not inside and (m := re.match(r"(#+)\s*(.+)", line.strip())):
            found.append((number, len(m.group(1)), m.group(2)))
    return found


def test_every_sections_line_range_holds_its_snippet_and_nothing_else():
    """The ranges ran past their snippet: views' (77-95) held broadcasting's lines, most ended in blank lines."""
    lines = NOTES.read_text(encoding="utf-8").splitlines()
    headings = notes_headings(lines)
    assert set(HEADINGS) == set(notes.sections()) == set(SNIPPET_TOKENS)
    for name, entries in HEADINGS.items():
        for text, first, last in entries:
            line, level, above = max(h for h in headings if h[0] <= first)
            assert above == text, (name, text, first)
            assert lines[first - 1].strip() and lines[last - 1].strip(), (name, first, last)
            assert all(h[1] > level for h in headings if line < h[0] <= last), (name, "runs into the next heading")
        snippet = "\n".join("\n".join(lines[first - 1 : last]) for _, first, last in entries)
        for token in SNIPPET_TOKENS[name]:
            assert token in snippet, (name, token)
    for opening, label in notes_code_blocks(NOTES):  # each code block lies inside its section's ranges, fences too
        (name,) = [n for n, module in notes.sections().items() if label in module.BLOCKS]
        closing = next(n for n in range(opening + 1, len(lines) + 1) if lines[n - 1].strip().startswith("```"))
        assert any(first <= opening and closing <= last for _, first, last in HEADINGS[name]), (name, label)
    ranges = [(first, last, text, name) for name, entries in HEADINGS.items() for text, first, last in entries]
    for a, b in itertools.combinations(ranges, 2):  # sections share lines only under the same heading
        assert a[2] == b[2] or a[1] < b[0] or b[1] < a[0], (a, b)


# Lines of the notes that no section quotes: the chapter titles, each over sections that quote their own
# headings (a chapter of one section, 常用PyTorch方法 or LSTM网络, is quoted by it), and a rule.
UNQUOTED = {
    146: "a rule closing the chapter on tensors",
    150: "### 一些知识点: activations, losses, the MLP",
    294: "### 神经网络基础概念及知识点: training an MLP, from the loop to dropout",
    574: "### 卷积神经网络: convolution to data augmentation",
    824: "### 时间序列: RNN, the sine forecast, gradient clipping",
}


def test_every_line_of_the_notes_belongs_to_a_section():
    """Before: 交叉验证 (456), Feature scaling (631), Noise and GAN (820-822), argmax and the multi-output
    perceptron (280-282, 398-400) belonged to no section: `torchlab notes` never showed them."""
    lines = NOTES.read_text(encoding="utf-8").splitlines()
    quoted = {n for entries in HEADINGS.values() for _, first, last in entries for n in range(first, last + 1)}
    left = {n for n, line in enumerate(lines, 1) if line.strip() and n not in quoted}
    assert left == set(UNQUOTED)
    for n in UNQUOTED:  # a rule, or a chapter title with no text of its own: a heading follows it
        line, following = lines[n - 1], next(text for text in lines[n:] if text.strip())
        assert set(line.strip()) == {"-"} or (line.startswith("### ") and following.startswith("#")), n


def test_quoted_lines_expand_the_notes_tabs_so_that_they_align(capsys):
    """Before: the notes' raw tabs were printed after the `  473 | ` prefix: a terminal put them on its
    stops of 8, so `train_db,` stood 3 columns left of where the notes indent it, line 370 out of line with 371."""
    assert all("\t" not in notes.quote(name) for name in notes.sections())
    quoted = notes.quote("data_split").splitlines()
    assert "  473 |     train_db," in quoted and "  474 |     batch_size=batch_size, shuffle=True)" in quoted
    layers = {int(line.split("|")[0]): line for line in notes.quote("linear_layers").splitlines()}
    assert layers[370].index("nn.Linear(784, 200)") == layers[371].index("nn.LeakyReLU")


def test_notes_lists_at_least_38_sections():
    assert len(notes.sections()) >= 38


def test_a_section_prints_heading_code_then_output_and_code_only(capsys, tmp_path):
    notes.run("overfitting", pictures=tmp_path / "pictures")
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert "过拟合和欠拟合 (lines 452-454)" in first and "pytorch-notes.md" in first
    assert out.index("  454 | **泰勒展开本质思想") < out.index("def errors(") < out.index("# what it printed")
    assert out.index("# what it printed") < out.index("degree  1: train")
    assert (tmp_path / "pictures" / "overfitting.png").stat().st_size > 1000
    assert f"pictures saved under {tmp_path / 'pictures'}" in out
    notes.run("softmax", code_only=True)
    code = capsys.readouterr().out
    assert code == notes.code("softmax") and code.startswith('"""Softmax')
    # the printed code, saved and run alone, prints what the section printed (it defined main() only)
    notes.run("embedding")
    printed = capsys.readouterr().out.split("# what it printed:\n\n")[1]
    (tmp_path / "embedding.py").write_text(notes.code("embedding"))
    alone = subprocess.run([sys.executable, str(tmp_path / "embedding.py")], capture_output=True, text=True, timeout=60)
    assert alone.returncode == 0 and alone.stdout == printed, alone.stderr


def test_a_section_quotes_the_notes_lines_it_runs_beside_its_code(capsys, monkeypatch, tmp_path):
    """It named the notes' heading and line range only: the snippet it corrects was not there to compare."""
    notes.run("lstm")
    out = capsys.readouterr().out
    quoted = out[: out.index("# the corrected code it runs")]
    assert " 1016 |     h2, c2 = cell2(xt, [h2, c2])" in quoted  # the notes' mistake, as written
    assert "  979 | [picture: LSTM-2] [picture: LSTM-3]" in quoted and "F:\\" not in quoted
    assert "  970 |" not in quoted and " 1019 |" not in quoted  # its own lines only
    assert "h1 if feed_h1 else xt" in out[len(quoted) :]  # then the corrected code
    notes.run("densenet")
    assert re.search(r"^  696 \| DenseNet", capsys.readouterr().out, re.M)
    monkeypatch.setattr(notes, "NOTES_PATH", tmp_path / "absent.md")  # torchlab installed without the notes
    notes.run("softmax")
    out = capsys.readouterr().out
    assert f"(the notes' lines cannot be shown: {tmp_path / 'absent.md'}: No such file" in out
    assert "p_i (delta_ij - p_j)" in out


@pytest.mark.parametrize("name", [n for n, m in notes.sections().items() if real_data(m)])
def test_a_real_data_section_without_mnist_exits_2_naming_the_files(name, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCHLAB_DATA", str(tmp_path))
    assert cli.main(["notes", name]) == 2
    captured = capsys.readouterr()
    assert (
        f"MNIST not found in {tmp_path / 'MNIST' / 'raw'}" in captured.err and "train-images-idx3-ubyte" in captured.err
    )
    assert captured.out == ""  # nothing printed before the data is known to be there
    empty = tmp_path / "elsewhere"  # --data-dir beats TORCHLAB_DATA, as for train
    assert cli.main(["notes", name, "--data-dir", str(empty)]) == 2
    assert f"MNIST not found in {empty / 'MNIST' / 'raw'}" in capsys.readouterr().err


def test_a_section_without_pictures_or_data_says_the_options_given_went_unused(tmp_path, capsys):
    """`notes visualization --pictures p3 --data-dir nodata` exited 0 and made no p3, without a word."""
    assert cli.main(["notes", "visualization", "--pictures", str(tmp_path / "p3"), "--data-dir", "nodata"]) == 0
    out = capsys.readouterr().out
    assert f"this section draws no pictures: nothing saved under {tmp_path / 'p3'}" in out
    assert "this section reads no dataset: --data-dir nodata was not used" in out
    assert not (tmp_path / "p3").exists()
    notes.run("softmax")  # neither given: neither said
    assert "draws no pictures" not in (out := capsys.readouterr().out) and "reads no dataset" not in out


def test_densenet_block_concatenates_and_transition_halves():
    x = torch.randn(2, 32, 14, 14)
    out = densenet.DenseBlock(32, layers=4, growth=16)(x)
    assert out.shape == (2, 32 + 4 * 16, 14, 14) and torch.equal(out[:, :32], x)
    assert densenet.block_channels(24, 3, 12) == [24, 36, 48, 60]
    assert densenet.transition(96, 48)(out).shape == (2, 48, 7, 7)


def test_sine_forecast_draws_its_waves(tmp_path, monkeypatch):
    monkeypatch.setattr(sine_forecast, "ITERATIONS", 100)
    notes.run("sine_forecast", pictures=tmp_path)
    assert (tmp_path / "sine_forecast.png").stat().st_size > 1000
