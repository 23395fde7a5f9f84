"""`torchlab predict`: what a trained classifier makes of a learner's own image files and sentences, as
`Run.predict` makes it of the same tensors; other runs and bad inputs refused (exit 2, one line)."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

import torchlab
from tests.conftest import QUICK, cli_env
from torchlab.cli import main

pytestmark = pytest.mark.slow  # the module fixtures train on real MNIST and SST-2

DIGITS = 10


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory, mnist_root) -> Path:
    out = tmp_path_factory.mktemp("predict") / "mnist"
    assert main(["train", "mnist-mlp", "--out", str(out), *QUICK]) == 0
    return out


@pytest.fixture(scope="module")
def digits(tmp_path_factory, mnist_root) -> tuple[list[str], torch.Tensor, list[int]]:
    """The first test digits of real MNIST written as PNG files: their paths, pixels and labels."""
    folder = tmp_path_factory.mktemp("digits")
    test_set = torchvision.datasets.MNIST(str(mnist_root), train=False)
    paths = []
    for i in range(DIGITS):
        image, _ = test_set[i]
        image.save(folder / f"digit-{i}.png")
        paths.append(str(folder / f"digit-{i}.png"))
    return paths, test_set.data[:DIGITS], test_set.targets[:DIGITS].tolist()


@pytest.fixture(scope="module")
def sst2_run(tmp_path_factory, sst2_root) -> Path:
    out = tmp_path_factory.mktemp("predict") / "sst2"
    assert main(["train", "sst2-lstm", "--out", str(out), "--logger", "none", "--epochs", "1", "data.subset=300"]) == 0
    return out


def predicted(capsys, *args: str) -> list[dict]:
    """`torchlab predict ARGS --json`'s objects, one per input."""
    capsys.readouterr()
    assert main(["predict", *args, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def refused(capsys, *args: str) -> str:
    """The one line `torchlab predict ARGS` refuses with (exit 2)."""
    capsys.readouterr()
    assert main(["predict", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("torchlab: error: ") and err.count("\n") == 1, err
    return err


def test_digits_as_png_files_get_the_classes_run_predict_gives_their_pixels(mnist_run, digits, capsys):
    paths, pixels, labels = digits
    assert torchlab.load(mnist_run).summary["test"]["accuracy"] > 0.9
    rows = predicted(capsys, str(mnist_run), *paths)
    assert [row["file"] for row in rows] == paths
    classes = [row["predictions"][0]["index"] for row in rows]
    assert sum(c == label for c, label in zip(classes, labels, strict=True)) >= 8
    run = torchlab.load(mnist_run)
    assert classes == run.predict(pixels).tolist()  # the PNG read as the run's loader reads its own pixels
    for row, probabilities in zip(rows, run.probabilities(pixels), strict=True):
        top = probabilities.topk(3)
        assert [p["index"] for p in row["predictions"]] == top.indices.tolist()
        assert [p["probability"] for p in row["predictions"]] == pytest.approx(top.values.tolist(), abs=1e-5)
        assert row["predictions"][0]["label"] == ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
                                                  "5 - five", "6 - six", "7 - seven", "8 - eight",
                                                  "9 - nine"][row["predictions"][0]["index"]]  # fmt: skip


def test_the_plain_output_is_a_line_per_file_with_the_top_classes(mnist_run, digits, capsys):
    paths, pixels, _ = digits
    assert main(["predict", str(mnist_run), paths[0], paths[1], "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    probabilities = torchlab.load(mnist_run).probabilities(pixels[:2])
    names = torchlab.load(mnist_run).info.class_names
    for line, path, row in zip(lines, paths[:2], probabilities, strict=True):
        top = row.topk(2)
        assert line == f"{path}: " + ", ".join(f"{names[i]} {p:.1%}" for p, i in zip(*top, strict=True))


def test_many_files_are_predicted_in_the_run_s_evaluation_batches(mnist_run, digits, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(mnist_run, run)
    config = run / "config.yaml"
    config.write_text(re.sub(r"eval_batch_size: \d+", "eval_batch_size: 3", config.read_text()))
    in_batches_of_3, at_once = predicted(capsys, str(run), *digits[0]), predicted(capsys, str(mnist_run), *digits[0])
    assert len(in_batches_of_3) == DIGITS
    for one, other in zip(in_batches_of_3, at_once, strict=True):
        assert [p["label"] for p in one["predictions"]] == [p["label"] for p in other["predictions"]]
        probabilities = [p["probability"] for p in other["predictions"]]
        assert [p["probability"] for p in one["predictions"]] == pytest.approx(probabilities, abs=1e-5)


def test_a_large_colour_photo_is_made_grey_and_small_as_the_run_trained(mnist_run, digits, tmp_path, capsys):
    """A learner's photo is not a 28 x 28 grey PNG: an RGB JPEG four times larger reads as the digit it shows."""
    from PIL import Image

    paths, pixels, _ = digits
    photo = tmp_path / "photo.jpg"
    Image.open(paths[0]).convert("RGB").resize((112, 112), Image.Resampling.BILINEAR).save(photo, quality=95)
    (row,) = predicted(capsys, str(mnist_run), str(photo))
    assert row["predictions"][0]["index"] == torchlab.load(mnist_run).predict(pixels[:1]).item()


def test_sentences_get_a_label_and_probability_as_run_predict_gives(sst2_run, capsys):
    sentences = ["a wonderful , moving and funny film", "a dull , boring and awful mess"]
    rows = predicted(capsys, str(sst2_run), *sentences, "--top", "1")
    run = torchlab.load(sst2_run)
    assert [row["sentence"] for row in rows] == sentences
    assert [row["predictions"][0]["index"] for row in rows] == run.predict(sentences).tolist()
    for row, probabilities in zip(rows, run.probabilities(sentences), strict=True):
        (best,) = row["predictions"]
        assert best["label"] in ("negative", "positive") and 0.5 <= best["probability"] <= 1
        assert best["probability"] == pytest.approx(probabilities.max().item(), abs=1e-5)
    piped = subprocess.run(  # '-': a sentence a line from stdin, blank ones skipped
        [sys.executable, "-m", "torchlab", "predict", str(sst2_run), "-", "--top", "1", "--json"],
        input=f"{sentences[0]}\n\n{sentences[1]}\n",
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
    )
    assert piped.returncode == 0, piped.stderr
    assert [json.loads(line) for line in piped.stdout.splitlines()] == rows
    assert main(["predict", str(sst2_run), sentences[0]]) == 0
    assert capsys.readouterr().out.startswith(f'"{sentences[0]}": ')


def test_bad_inputs_are_refused_before_anything_is_printed(mnist_run, digits, sst2_run, tmp_path, capsys):
    paths = digits[0]
    (tmp_path / "notes.png").write_text("not a picture")
    torch.save(digits[1], tmp_path / "digits.pt")
    for given, message in [
        (tmp_path / "missing.png", "missing.png does not exist: this run classifies images; give image files"),
        (tmp_path, "is a folder: this run classifies images"),
        (tmp_path / "notes.png", "notes.png is not an image this run can read (cannot identify image file"),
        (tmp_path / "digits.pt", "'); in Python, torchlab.load(RUN_DIR).predict(torch.load(FILE))"),
        ("a sentence", "a sentence does not exist: this run classifies images"),
    ]:
        assert message in refused(capsys, str(mnist_run), paths[0], str(given))
    assert "--top takes 1 or more, got 0" in refused(capsys, str(mnist_run), paths[0], "--top", "0")
    assert "an empty sentence: give this text classifier sentences" in refused(capsys, str(sst2_run), "")
    assert f"{tmp_path} is not a torchlab run directory" in refused(capsys, str(tmp_path), paths[0])


def test_checkpoints_missing_or_of_another_model_are_refused(mnist_run, sst2_run, digits, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(mnist_run, run)
    (run / "checkpoints" / "best.pt").unlink()
    assert "last.pt is there: `--checkpoint last` predicts with it" in refused(capsys, str(run), digits[0][0])
    assert predicted(capsys, str(run), digits[0][0], "--checkpoint", "last")[0]["predictions"]
    shutil.copy(sst2_run / "checkpoints" / "best.pt", run / "checkpoints" / "last.pt")
    err = refused(capsys, str(run), digits[0][0], "--checkpoint", "last")
    assert f"{run / 'checkpoints' / 'last.pt'} holds weights of another model" in err


def test_a_run_that_is_not_a_classifier_names_the_python_way(tmp_path, digits, capsys):
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    out = tmp_path / "regress"
    torchlab.fit(nn.Linear(4, 1), (x, x.sum(1, keepdim=True)), task="regress", out=out, train__epochs=1,
                 log__loggers=[], log__quiet=True, log__progress=False)  # fmt: skip
    err = refused(capsys, str(out), digits[0][0])
    assert f"{out} is a run of task regress on inputs of shape [4]: `torchlab predict` takes image files" in err
    assert f"torchlab.load({str(out)!r}).predict(tensor) gives its outputs" in err


def test_the_device_asked_for_is_used_and_one_that_is_not_here_is_refused(mnist_run, digits, capsys):
    paths = digits[0][:2]
    on_cpu = predicted(capsys, str(mnist_run), *paths, "--device", "cpu")
    assert on_cpu == predicted(capsys, str(mnist_run), *paths)
    absent = "mps" if torch.cuda.is_available() else "cuda"
    assert f"device '{absent}' asked for, but no {absent.upper()} device is available here" in refused(
        capsys, str(mnist_run), *paths, "--device", absent
    )
    assert "unknown device 'gpu'; use auto, cpu, cuda, cuda:N or mps" in refused(
        capsys, str(mnist_run), *paths, "--device", "gpu"
    )
    with pytest.raises(torchlab.TorchlabError, match=f"device '{absent}' asked for"):
        torchlab.load(mnist_run, device=absent)  # at once, not at the first predict
    assert torchlab.load(mnist_run, device="cpu").model.training is False


def test_a_device_number_beyond_the_host_s_devices_is_refused(mnist_run, digits, capsys, monkeypatch):
    """cuda:1 on a host of one GPU (simulated: this host has none) is refused at once naming the devices there."""
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda check_available=False: torch.device("cuda"))
    monkeypatch.setattr(torch.accelerator, "device_count", lambda: 1)
    said = "device 'cuda:1' asked for, but this host has 1 CUDA device: cuda:0"
    assert said in refused(capsys, str(mnist_run), digits[0][0], "--device", "cuda:1")
    with pytest.raises(torchlab.TorchlabError, match=said):
        torchlab.load(mnist_run, device="cuda:1")
    monkeypatch.setattr(torch.accelerator, "device_count", lambda: 2)
    assert torchlab.load(mnist_run, device="cuda:1").device == "cuda:1"  # two GPUs: taken (no model built yet)


def test_load_reads_the_checkpoint_asked_for_and_names_the_one_there_when_it_is_missing(
    mnist_run, digits, tmp_path, capsys
):
    from torchlab.core.checkpoint import load_checkpoint

    run = tmp_path / "run"
    shutil.copytree(mnist_run, run)
    with torch.no_grad():  # last.pt's weights made other than best.pt's, as after an epoch worse than the best
        state = load_checkpoint(run / "checkpoints" / "last.pt")
        state["model"] = {name: weights + 0.01 for name, weights in state["model"].items()}
        torch.save(state, run / "checkpoints" / "last.pt")
    for name in ("best", "last"):
        weights = load_checkpoint(run / "checkpoints" / f"{name}.pt")["model"]
        model = torchlab.load(run, checkpoint=name).model
        assert all(torch.equal(model.state_dict()[key], value) for key, value in weights.items())
    assert (
        torchlab.load(run).predict(digits[1]).tolist()
        == torchlab.load(run, checkpoint="best").predict(digits[1]).tolist()
    )
    with pytest.raises(torchlab.TorchlabError, match="checkpoint= takes 'best', 'last' or None, got 'final'"):
        torchlab.load(run, checkpoint="final")
    (run / "checkpoints" / "last.pt").unlink()
    with pytest.raises(torchlab.TorchlabError) as missing:
        torchlab.load(run, checkpoint="last")
    assert str(missing.value).endswith(
        "last.pt is missing, though "
        + f"{run} finished; best.pt is there: torchlab.load(run_dir, checkpoint='best') loads it"
    )
    assert "last.pt is missing" in refused(capsys, str(run), digits[0][0], "--checkpoint", "last")
    assert "best.pt is there: `--checkpoint best` predicts with it" in refused(
        capsys, str(run), digits[0][0], "--checkpoint", "last"
    )
    (run / "checkpoints" / "best.pt").rename(run / "checkpoints" / "last.pt")
    with pytest.raises(
        torchlab.TorchlabError, match="last.pt is there: torchlab.load\\(run_dir, checkpoint='last'\\) loads it"
    ):
        torchlab.load(run, checkpoint="best")


@pytest.fixture(scope="module")
def cropped_run(tmp_path_factory, mnist_root) -> Path:
    """mnist-mlp trained on the central 20 x 20 pixels of each digit (data.center_crop)."""
    out = tmp_path_factory.mktemp("predict") / "cropped"
    assert main(["train", "mnist-mlp", "--out", str(out), *QUICK, "data.center_crop=20"]) == 0
    return out


def test_files_are_cut_to_their_centre_as_the_runs_loader_cut_its_images(cropped_run, digits, tmp_path, capsys):
    """Before: the whole 28 x 28 digit was scaled down to 20 x 20, a smaller digit than any the run saw."""
    from torchlab.core.checkpoint import load_checkpoint
    from torchlab.data import build_data

    paths, pixels, labels = digits
    run = torchlab.load(cropped_run)
    loaded = build_data(run.config.data, torch.device("cpu")).test_images[:DIGITS]  # the loader's own, 20 x 20
    assert loaded.shape[-2:] == (20, 20)
    expected = run.probabilities(loaded)
    assert torch.equal(run.probabilities(pixels), expected)  # whole 28 x 28 pixels are cut as the loader cut them
    assert run.evaluate(pixels, labels) == run.evaluate(loaded, labels)
    with pytest.raises(torchlab.TorchlabError, match=r"got \[10, 28, 28\] \(uint8 pixels of the whole 28 x 28 images"):
        run.predict(pixels.float())  # floats are taken as the loader gave them: cut and normalised already

    def files_predicted(run_dir: Path) -> torch.Tensor:  # each file's probability of every class, in class order
        rows = predicted(capsys, str(run_dir), *paths, "--top", "10")
        return torch.tensor(
            [[p["probability"] for p in sorted(row["predictions"], key=lambda p: p["index"])] for row in rows]
        )

    assert torch.allclose(files_predicted(cropped_run), expected, atol=1e-5)
    older = tmp_path / "older"  # a run whose checkpoints predate DataInfo.uncropped: its config says the cut
    shutil.copytree(cropped_run, older)
    for checkpoint in (older / "checkpoints").glob("*.pt"):
        state = load_checkpoint(checkpoint)
        del state["info"]["uncropped"]
        torch.save(state, checkpoint)
    assert torch.allclose(files_predicted(older), expected, atol=1e-5)
