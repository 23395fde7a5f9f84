"""Hostile and broken weight files: refused with exit 2 on every path that loads one, and the
code inside never runs (the payload would write a marker file when unpickled)."""

import contextlib
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import QUICK
from torchlab.cli import main
from torchlab.core.checkpoint import FORMAT, load_checkpoint, load_tensors
from torchlab.core.errors import TorchlabError


class Payload:
    """Unpickling this runs code: it writes `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('pwned')",)


def hostile_files(folder: Path, marker: Path) -> dict[str, Path]:
    """Each a different way to smuggle code into a weights file."""
    folder.mkdir(exist_ok=True)
    state = {"format": FORMAT, "model": {"w": torch.zeros(2)}, "evil": Payload(marker)}
    files = {name: folder / f"{name}.pt" for name in ("zip", "legacy", "raw-pickle", "state-dict")}
    torch.save(state, files["zip"])
    torch.save(state, files["legacy"], _use_new_zipfile_serialization=False)
    files["raw-pickle"].write_bytes(pickle.dumps(Payload(marker), protocol=2))
    torch.save({"layers.0.weight": torch.zeros(2), "hook": Payload(marker)}, files["state-dict"])
    files["safetensors-name"] = folder / "model.safetensors"
    shutil.copy(files["zip"], files["safetensors-name"])
    return files


@pytest.fixture(scope="module")
def run(tmp_path_factory, mnist_root) -> Path:
    out = tmp_path_factory.mktemp("hostile") / "run"
    assert main(["train", "mnist-mlp", "--out", str(out), *QUICK, "train.epochs=1", "data.subset=2000"]) == 0
    return out


def test_the_payloads_are_real(tmp_path):
    """Unpickled without weights_only, each file runs its code: the refusals below matter."""
    marker = tmp_path / "marker"
    for name, path in hostile_files(tmp_path / "files", marker).items():
        if name != "safetensors-name":
            with contextlib.suppress(RuntimeError):  # a raw pickle is no torch file, but it ran first
                torch.load(path, weights_only=False)
            assert marker.exists(), name
            marker.unlink()


LOADERS = {
    "eval": lambda run, f: (shutil.copy(f, run / "checkpoints" / "best.pt"), ["eval", str(run)]),
    "resume": lambda run, f: (shutil.copy(f, run / "checkpoints" / "last.pt"), ["resume", str(run), "--epochs", "3"]),
    "export": lambda run, f: (
        shutil.copy(f, run / "checkpoints" / "best.pt"),
        ["export", str(run), "--format", "safetensors"],
    ),
    "eval-weights": lambda run, f: (None, ["eval", str(run), "--weights", str(f)]),
}
HOSTILE = ["zip", "legacy", "raw-pickle", "state-dict", "safetensors-name"]


@pytest.mark.slow
@pytest.mark.parametrize("loader", LOADERS)
def test_hostile_files_are_refused_on_every_command(loader, run, tmp_path, capsys, monkeypatch):
    # Even a user who set torch's escape hatch gets the weights-only load.
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "marker"
    files = hostile_files(tmp_path / "files", marker)
    tried = 0
    for name, path in files.items():
        copy = tmp_path / f"run-{name}"
        shutil.copytree(run, copy)
        _, argv = LOADERS[loader](copy, path)
        assert main(argv) == 2, name
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert "refused to load" in err or "not a readable safetensors" in err, err
        assert not marker.exists(), f"{name} ran code via {loader}"
        tried += 1
    assert tried == len(HOSTILE)


@pytest.mark.parametrize("name", HOSTILE)
def test_load_tensors_refuses_hostile_files(name, tmp_path):
    marker = tmp_path / "marker"
    path = hostile_files(tmp_path / "files", marker)[name]
    with pytest.raises(TorchlabError, match="refused to load|not a readable safetensors"):
        load_tensors(path)
    assert not marker.exists()


@pytest.mark.slow
def test_load_tensors_reads_state_dicts_checkpoints_and_safetensors(run, tmp_path):
    from safetensors.torch import save_file

    best = load_checkpoint(run / "checkpoints" / "best.pt")["model"]
    torch.save(best, tmp_path / "plain.pt")
    torch.save({"state_dict": best}, tmp_path / "wrapped.pth")
    save_file(best, tmp_path / "w.safetensors")
    for path in (
        run / "checkpoints" / "best.pt",
        tmp_path / "plain.pt",
        tmp_path / "wrapped.pth",
        tmp_path / "w.safetensors",
    ):
        loaded = load_tensors(path)
        assert loaded.keys() == best.keys() and all(torch.equal(loaded[k], best[k]) for k in best), path


@pytest.mark.slow
@pytest.mark.parametrize(
    "damage",
    ["truncated", "empty", "random-bytes", "not-a-dict"],
)
def test_broken_checkpoints_exit_2(damage, run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    last = copy / "checkpoints" / "last.pt"
    data = last.read_bytes()
    broken = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "random-bytes": bytes(range(256)) * 64,
        "not-a-dict": b"",
    }[damage]
    if damage == "not-a-dict":
        torch.save([torch.zeros(1)], last)
    else:
        last.write_bytes(broken)
    for argv in (["resume", str(copy), "--epochs", "3"], ["eval", str(copy), "--weights", str(last)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert str(last) in err and len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.slow
def test_a_checkpoint_of_another_torchlab_version_says_so(run, tmp_path, capsys):
    """Before: "is not a torchlab checkpoint (expected format torchlab-checkpoint/1)", as for any file."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    for name in ("last", "best"):
        path = copy / "checkpoints" / f"{name}.pt"
        state = load_checkpoint(path)
        torch.save({**state, "format": "torchlab-checkpoint/2"}, path)
    for argv in (
        ["resume", str(copy), "--epochs", "3"],
        ["eval", str(copy)],
        ["export", str(copy), "--format", "onnx"],
    ):
        assert main(argv) == 2
        name = "last" if argv[0] == "resume" else "best"
        expected = f"is a checkpoint of another torchlab version (torchlab-checkpoint/2; this one reads {FORMAT})"
        assert capsys.readouterr().err.strip() == f"torchlab: error: {copy}/checkpoints/{name}.pt {expected}"
