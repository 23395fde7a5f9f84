"""Optimisers and learning-rate schedules: each LR sequence of a real run equals PyTorch's own
scheduler driven alone in the textbook loop (optimizer.step(), then scheduler.step())."""

import pytest
import torch
from torch import nn
from torch.optim import lr_scheduler

from torchlab.cli import main
from torchlab.config import build_config
from torchlab.engine.optim import build_optimizer
from torchlab.loggers.jsonl import read_metrics

LR, EPOCHS, STEPS = 0.05, 4, 10  # 640 samples in batches of 64: 10 steps per epoch
SHORT = [
    "--logger", "none", f"--epochs={EPOCHS}", "data.subset=640", "data.batch_size=64", "data.eval_subset=500",
    "train.log_every=1", f"optim.lr={LR}",
]  # fmt: skip


def warmup(opt):
    return lr_scheduler.LinearLR(opt, start_factor=0.01, total_iters=15)


# name: (overrides, "per step"/"per epoch"/"plateau", PyTorch's scheduler, optional warm-up)
CASES = {
    "step": (
        ["schedule.name=step", "schedule.step_size=2", "schedule.gamma=0.5"],
        "epoch",
        lambda opt: lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
        None,
    ),
    "multistep": (
        ["schedule.name=multistep", "schedule.milestones=[1,3]", "schedule.gamma=0.3"],
        "epoch",
        lambda opt: lr_scheduler.MultiStepLR(opt, milestones=[1, 3], gamma=0.3),
        None,
    ),
    "cosine": (
        ["schedule.name=cosine", "schedule.eta_min=0.001"],
        "epoch",
        lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS, eta_min=0.001),
        None,
    ),
    "onecycle": (
        ["schedule.name=onecycle", "schedule.pct_start=0.25"],
        "step",
        lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=EPOCHS * STEPS, pct_start=0.25),
        None,
    ),
    "plateau": (
        # every epoch after the first "stalls" (a 50% relative improvement is asked for)
        ["schedule.name=plateau", "schedule.patience=0", "schedule.factor=0.5", "schedule.threshold=0.5"],
        "plateau",
        lambda opt: lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.5, threshold=0.5),
        None,
    ),
    "warmup": (["schedule.warmup_steps=15"], "epoch", None, warmup),
    "cosine+warmup": (["schedule.name=cosine", "schedule.warmup_steps=15"], "epoch", None, warmup),
}
CASES["cosine+warmup"] = (
    CASES["cosine+warmup"][0],
    "epoch",
    lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS),
    warmup,
)


def pytorch_alone(make, interval, make_warmup, val_metrics):
    """The learning rate of every step with PyTorch's scheduler(s) alone on a one-weight SGD."""
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=LR, momentum=0.9)
    scheduler = make(opt) if make else None
    warm = make_warmup(opt) if make_warmup else None
    lrs = []
    for epoch in range(EPOCHS):
        for _ in range(STEPS):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            if warm:
                warm.step()
            if scheduler and interval == "step":
                scheduler.step()
        if scheduler and interval == "epoch":
            scheduler.step()
        elif interval == "plateau":
            scheduler.step(val_metrics[epoch])
    return lrs


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_each_schedule_steps_as_pytorch_alone(case, tmp_path, mnist_root):
    overrides, interval, make, make_warmup = CASES[case]
    assert main(["train", "mnist-mlp", "--out", str(tmp_path / "run"), *SHORT, *overrides]) == 0
    records = read_metrics(tmp_path / "run")
    logged = [r["lr"] for r in records if r["event"] == "step"]
    val = [r["val.accuracy"] for r in records if r["event"] == "epoch"]
    assert len(logged) == EPOCHS * STEPS
    expected = pytorch_alone(make, interval, make_warmup, val)
    assert logged == expected
    assert len(set(logged)) > 1  # the schedule did something
    epoch_lrs = [r["lr"] for r in records if r["event"] == "epoch"]
    assert epoch_lrs == expected[STEPS - 1 :: STEPS]  # an epoch logs the learning rate of its last step


@pytest.mark.parametrize(
    ("name", "cls", "extra"),
    [
        ("sgd", torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
        ("adam", torch.optim.Adam, {"betas": (0.8, 0.99)}),
        ("adamw", torch.optim.AdamW, {"eps": 1e-6}),
        ("rmsprop", torch.optim.RMSprop, {"alpha": 0.9, "momentum": 0.5, "centered": True}),
        ("adadelta", torch.optim.Adadelta, {"rho": 0.95}),
    ],
)
def test_optimisers_are_pytorch_s_with_the_config_s_values(name, cls, extra):
    cfg = build_config({"optim": {"name": name, "weight_decay": 0.001, **extra}})
    opt = build_optimizer(cfg.optim, nn.Linear(2, 2).parameters())
    assert type(opt) is cls
    assert opt.defaults["weight_decay"] == 0.001 and opt.defaults["lr"] == cfg.optim.lr
    for key, value in extra.items():
        assert opt.defaults[key] == value


@pytest.mark.parametrize(
    ("name", "extra"),
    [("sgd", {"momentum": 0.9}), ("adam", {}), ("adamw", {"betas": (0.9, 0.99), "weight_decay": 0.01})],
)
def test_a_fused_optimiser_makes_the_same_updates(name, extra):
    """`optim.fused=true` is a fast path only: 20 steps land on the for-loop's weights."""
    torch.manual_seed(0)
    x, y = torch.randn(64, 20), torch.randint(0, 5, (64,))
    weights = {}
    for fused in (False, True):
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5))
        weights["start"] = torch.cat([p.detach().flatten() for p in model.parameters()])
        opt = build_optimizer(
            build_config({"optim": {"name": name, "fused": fused, **extra}}).optim, model.parameters()
        )
        assert opt.defaults["fused"] is fused
        for _ in range(20):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        weights[fused] = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert (weights[False] - weights["start"]).abs().max() > 0.01  # the steps moved the weights
    torch.testing.assert_close(weights[True], weights[False], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rmsprop", "adadelta"])
def test_rmsprop_and_adadelta_train_mnist(name, tmp_path, mnist_root):
    recipe = tmp_path / f"mnist-{name}.yaml"
    recipe.write_text(f"optim: {{name: {name}, lr: {dict(rmsprop=0.001, adadelta=1.0)[name]}}}\n")
    out = tmp_path / name
    args = ["--logger", "none", "--epochs=1", "data.subset=4000", "data.eval_subset=1000"]
    assert main(["train", str(recipe), "--out", str(out), *args]) == 0
    assert read_metrics(out)[-2]["test.accuracy"] > 0.6  # chance is 0.1


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lr=-1", "optim.lr: expected 0 or more, got -1.0"),
        ("schedule.warmup_steps=-3", "schedule.warmup_steps: expected 0 or more, got -3"),
        ("schedule.name=cosin", "did you mean 'cosine'"),
        ("optim.name=rmsprop optim.fused=true", "optim.fused"),  # PyTorch has no fused RMSprop
        (  # four steps: a warm-up of one step, which OneCycleLR cannot interpolate over
            "schedule.name=onecycle schedule.pct_start=0.25 data.subset=512 data.batch_size=128 train.epochs=1",
            "pct_start 0.25 over 4 steps leaves a phase of the cycle without steps",
        ),
    ],
)
def test_bad_optimiser_and_schedule_values_exit_2(override, message, tmp_path, mnist_root, capsys):
    assert main(["train", "mnist-mlp", "--out", str(tmp_path / "x"), "--logger", "none", *override.split()]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x" / "config.yaml").exists()


def test_onecycle_over_few_steps_runs_to_its_end_or_is_refused_up_front():
    """PyTorch's OneCycleLR divides by the length of each phase; some step counts and pct_start
    leave a phase empty (4 steps at pct_start 0.25: at once; three phases over 3 steps at 2/3:
    at the last step). Every such run is refused before it starts, every other one runs through."""
    from torchlab.core.errors import TorchlabError
    from torchlab.engine.optim import build_schedule

    refused = 0
    for total in range(1, 41):
        for pct_start in (0.05, 0.1, 0.2, 0.25, 0.3, 0.5, 2 / 3, 0.75, 0.9):
            for three_phase in (False, True):
                schedule = {"name": "onecycle", "pct_start": pct_start, "three_phase": three_phase}
                config = build_config({"schedule": schedule, "train": {"epochs": 1}})
                optimizer = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1, momentum=0.9)
                try:
                    schedule = build_schedule(config.schedule, optimizer, config.train, total)
                except TorchlabError as err:
                    assert "leaves a phase of the cycle without steps" in str(err)
                    refused += 1
                    continue
                for _ in range(total):
                    optimizer.step()
                    schedule.scheduler.step()
    assert refused >= 3  # 4 steps at 0.25, 20 at 0.05, 3 three-phase steps at 2/3, ...
