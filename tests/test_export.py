"""Export: safetensors weights that load back to the same metrics; ONNX that onnxruntime runs
to the same logits as PyTorch."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import QUICK
from torchlab import api
from torchlab.cli import main
from torchlab.core.checkpoint import load_checkpoint, load_weights

pytestmark = pytest.mark.slow  # every test reads the run its module fixture trains on real MNIST


@pytest.fixture(scope="module")
def run(tmp_path_factory, mnist_root) -> Path:
    out = tmp_path_factory.mktemp("export") / "run"
    assert main(["train", "mnist-mlp", "--out", str(out), *QUICK, "train.epochs=1", "data.subset=2000"]) == 0
    return out


def test_safetensors_round_trip(run, capsys):
    from safetensors import safe_open

    assert main(["export", str(run), "--format", "safetensors"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == run / "export" / "model.safetensors"
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert meta["format"] == "torchlab-weights/1" and meta["recipe"] == "mnist-mlp"
    assert json.loads(meta["config"])["model"]["name"] == "mlp"
    summary = json.loads((run / "summary.json").read_text())
    # The exported weights, imported again, give exactly the run's test metrics.
    assert api.evaluate(run, weights=path) == {f"test.{k}": v for k, v in summary["test"].items()}


def test_weights_of_another_model_are_refused(run, tmp_path, capsys):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, tmp_path / "other.safetensors")
    assert main(["eval", str(run), "--weights", str(tmp_path / "other.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "holds weights of another model: Missing key(s)" in err and "?" not in err
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07")
    for weights, message in [(tmp_path, "is a folder: name a weights file"), ("", "--weights is empty: name a file"),
                             (tmp_path / "model.onnx", "is an ONNX graph, which torchlab does not read")]:  # fmt: skip
        assert main(["eval", str(run), "--weights", str(weights)]) == 2
        assert message in capsys.readouterr().err


def test_an_export_that_names_a_file_of_a_run_is_refused(run, tmp_path, capsys):
    """Before: --out RUN/checkpoints/best.pt replaced the run's best model with safetensors bytes (exit 0),
    and so did an --out into another run, or a planted link at RUN/export."""
    other = tmp_path / "other"
    shutil.copytree(run, other, ignore=shutil.ignore_patterns("export"))
    files = {p: p.read_bytes() for folder in (run, other) for p in folder.rglob("*") if p.is_file()}
    files = {p: content for p, content in files.items() if "export" not in p.parts}
    outs = [run / "checkpoints" / "best.pt", run / "config.yaml", run / "new.safetensors", run / "plots" / "x.st"]
    for out in [*outs, other / "config.yaml", other / "checkpoints" / "best.pt", run]:
        assert main(["export", str(run), "--format", "safetensors", "--out", str(out)]) == 2
        assert "a run or cross-validation whose files it would replace" in capsys.readouterr().err or out == run
    assert {p: p.read_bytes() for p in files} == files
    assert main(["export", str(run), "--format", "safetensors", "--out", str(run / "export" / "mine.safetensors")]) == 0
    assert main(["export", str(run), "--format", "safetensors", "--out", str(tmp_path / "mine.safetensors")]) == 0
    (tmp_path / "elsewhere").mkdir()
    (other / "export").symlink_to(tmp_path / "elsewhere")
    assert main(["export", str(other), "--format", "safetensors"]) == 2
    assert "is a symbolic link" in capsys.readouterr().err and not list((tmp_path / "elsewhere").iterdir())


def test_onnx_matches_pytorch(run, tmp_path, capsys):
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "mlp.onnx"
    assert main(["export", str(run), "--format", "onnx", "--out", str(out)]) == 0
    config = api.load_run_config(run)
    from torchlab.engine.trainer import Trainer

    trainer = Trainer(config, run)
    load_weights(trainer.model, load_checkpoint(run / "checkpoints" / "best.pt"), run)
    images, labels = next(iter(trainer.data.test_loader()))
    images = images[:37]  # a batch size the export never saw
    with torch.no_grad():
        expected = trainer.model.eval()(images)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": images.numpy()})[0]
    assert logits.shape == (37, 10)
    torch.testing.assert_close(torch.from_numpy(logits), expected, rtol=1e-4, atol=1e-4)
    assert (logits.argmax(1) == expected.argmax(1).numpy()).all()


def test_onnx_of_a_mirror_voting_run_votes_too(tmp_path, mnist_root):
    """With task.tta_flip the graph averages the logits of each image and its mirror image, as the run's test did."""
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    run = tmp_path / "run"
    quick = [*QUICK, "train.epochs=1", "data.subset=2000", "task.tta_flip=true"]
    assert main(["train", "mnist-mlp", "--out", str(run), *quick]) == 0
    assert main(["export", str(run), "--format", "onnx", "--out", str(tmp_path / "mlp.onnx")]) == 0
    trainer = api.build_trainer(api.load_run_config(run), run)
    load_weights(trainer.model, load_checkpoint(run / "checkpoints" / "best.pt"), run)
    images = next(iter(trainer.data.test_loader()))[0][:16]
    model = trainer.model.eval()
    session = ort.InferenceSession(str(tmp_path / "mlp.onnx"), providers=["CPUExecutionProvider"])
    logits = torch.from_numpy(session.run(None, {"input": images.numpy()})[0])
    with torch.no_grad():
        torch.testing.assert_close(logits, (model(images) + model(images.flip(-1))) / 2, rtol=1e-4, atol=1e-4)
        assert not torch.allclose(logits, model(images), atol=1e-3)  # the plain model's logits differ


def test_onnx_is_for_classifiers_only_and_formats_are_checked(run, capsys):
    assert main(["export", str(run), "--format", "torchscript"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_export_of_a_run_that_never_finished_an_epoch_says_why(tmp_path, mnist_root, capsys):
    """Before: 'checkpoint not found: RUN/checkpoints/best.pt', where eval of the same run said why."""
    run = tmp_path / "run"
    assert main(["train", "mnist-mlp", "optim.lr=1e9", "--logger", "none", "data.subset=500", "--out", str(run)]) == 2
    capsys.readouterr()
    for fmt in ("safetensors", "onnx"):
        assert main(["export", str(run), "--format", fmt]) == 2
        assert (
            capsys.readouterr().err.strip()
            == f"torchlab: error: {run} diverged: its model is NaN (report.html holds its learning curves)"
        )
    assert not (run / "export").exists()


def test_weights_copied_from_another_run_are_not_exported_under_this_ones_name(run, tmp_path, mnist_root, capsys):
    """Before: safetensors export wrote them, labelled with this run's recipe and model; eval refused them."""
    other = tmp_path / "other"
    assert (
        main(["train", "mnist-mlp", "model.hidden=[16]", "train.epochs=0", "--logger", "none", "--out", str(other)])
        == 0
    )
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("export"))
    shutil.copy(other / "checkpoints" / "best.pt", copy / "checkpoints" / "best.pt")
    capsys.readouterr()
    assert main(["export", str(copy), "--format", "safetensors"]) == 2
    best = copy / "checkpoints" / "best.pt"
    expected = (
        f"{best} holds weights of another model than the run's config.yaml: model.hidden=[16] (config.yaml: [200, 200])"
    )
    assert capsys.readouterr().err.strip() == f"torchlab: error: {expected}"
    assert not (copy / "export").exists()
