"""Every file torchlab reads back from a run gives exit 2 and one line when its content is wrong
(issue 24, the traceback cases): checkpoints of a wrong structure that still load weights-only,
and a damaged config.yaml, summary.json, metrics.jsonl or split.json."""

from pathlib import Path

import pytest
import torch

from tests.conftest import copy_of, tiny_run
from torchlab.cli import main
from torchlab.core.checkpoint import load_weights_only

pytestmark = pytest.mark.slow  # real MNIST runs


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_root) -> Path:
    return tiny_run(tmp_path_factory, epochs=1)


@pytest.fixture
def run(trained, tmp_path) -> Path:
    return copy_of(trained, tmp_path)


def first_key(d: dict) -> str:
    return next(iter(d))


# Each damage edits a real checkpoint's dict; the result still loads with weights_only=True.
DAMAGE = {
    "model a list": lambda s: s.update(model=list(s["model"].values())),
    "model missing": lambda s: s.pop("model"),
    "a non-tensor in model": lambda s: s["model"].update({first_key(s["model"]): 3}),
    "model keys not strings": lambda s: s.update(model={i: v for i, v in enumerate(s["model"].values())}),
    "epoch a string": lambda s: s.update(epoch="1"),
    "epoch missing": lambda s: s.pop("epoch"),
    "epoch negative": lambda s: s.update(epoch=-4),
    "best.value a string": lambda s: s["best"].update(value="0.9"),
    "best a list": lambda s: s.update(best=[0.9]),
    "config missing": lambda s: s.pop("config"),
    "rng of the wrong size": lambda s: s["rng"].update(torch=s["rng"]["torch"][:100]),
    "rng a list": lambda s: s.update(rng=[1, 2]),
    "optimizers a list": lambda s: s.update(optimizers=[]),
    "optimizer state a string": lambda s: s["optimizers"].update(model="adam"),
    "schedules missing": lambda s: s.pop("schedules"),
    "info a list": lambda s: s.update(info=[]),
}
ONLY_RESUME_READS = {"rng of the wrong size", "optimizer state a string", "schedules missing"}


def damaged(path: Path, case: str) -> None:
    state = load_weights_only(path)
    DAMAGE[case](state)
    torch.save(state, path)


@pytest.mark.parametrize("case", DAMAGE)
def test_checkpoints_of_a_wrong_structure_exit_2_on_every_command(case, run, tmp_path, capsys):
    damaged(run / "checkpoints" / "last.pt", case)
    damaged(run / "checkpoints" / "best.pt", case)
    commands = {
        "resume": ["resume", str(run), "--epochs", "2"],
        "eval": ["eval", str(run)],
        "export": ["export", str(run), "--format", "safetensors", "--out", str(tmp_path / "m.safetensors")],
        "export last": [
            "export",
            str(run),
            "--format",
            "safetensors",
            "--checkpoint",
            "last",
            "--out",
            str(tmp_path / "l.st"),
        ],
    }
    for name, argv in commands.items():
        code = main(argv)
        err = capsys.readouterr().err.strip()
        if code == 0 and case in ONLY_RESUME_READS and name != "resume":
            continue  # the weights are intact: eval and export need nothing else
        assert code == 2, (name, code, err)
        assert len(err.splitlines()) == 1 and "Traceback" not in err, (name, err)
        assert "checkpoints/" in err, (name, err)  # names the file


BAD_CONTENT = {
    "invalid": b"{[: not this\n\t- ]",
    "a list": b"- 1\n- 2\n",
    "not UTF-8": b"\xff\xfe\x00bad",
    "empty": b"",
}


def assert_one_line_exit_2(argv: list[str], capsys, name: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, (argv, code, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert name in err, err
    return err


@pytest.mark.parametrize("content", BAD_CONTENT)
def test_a_damaged_config_yaml_exits_2_on_every_command(content, run, tmp_path, capsys):
    (run / "config.yaml").write_bytes(BAD_CONTENT[content])
    if content == "empty":  # an empty config is the defaults: another run's config, refused or run
        return
    for argv in (
        ["report", str(run), "--out", str(tmp_path / "cmp")],
        ["eval", str(run)],
        ["resume", str(run)],
        ["export", str(run), "--format", "safetensors", "--out", str(tmp_path / "m.st")],
    ):
        assert_one_line_exit_2(argv, capsys, "config.yaml")


@pytest.mark.parametrize("name", ["summary.json", "metrics.jsonl"])
@pytest.mark.parametrize("content", ["invalid", "a list", "not UTF-8"])
def test_a_damaged_summary_or_metrics_file_exits_2_on_report(name, content, run, tmp_path, capsys):
    data = {"invalid": b"{not json", "a list": b"[1, 2, 3]\n", "not UTF-8": b"\xff\xfe{}"}[content]
    if name == "metrics.jsonl" and content == "invalid":
        data = b'{"event": "epoch", "epoch": "one", "step": 10}\n'  # a torn line is skipped; this is no record
    (run / name).write_bytes(data)
    assert_one_line_exit_2(["report", str(run), "--out", str(tmp_path / "cmp")], capsys, name)


@pytest.mark.parametrize("content", ["invalid", "not UTF-8"])
def test_a_damaged_split_json_exits_2_on_eval_and_resume(content, run, capsys):
    (run / "split.json").write_bytes(BAD_CONTENT[content])
    assert_one_line_exit_2(["eval", str(run)], capsys, "split.json")
    assert_one_line_exit_2(["resume", str(run), "--epochs", "2"], capsys, "split.json")


def test_the_report_of_a_sound_run_still_works(run, tmp_path, capsys):
    assert main(["report", str(run), "--out", str(tmp_path / "cmp")]) == 0
    assert (tmp_path / "cmp" / "report.html").is_file()
