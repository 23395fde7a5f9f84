"""Export a run's weights: safetensors for any model, ONNX for image classifiers.

`torchlab export RUN_DIR --format safetensors|onnx` reads checkpoints/best.pt (weights-only)
and writes RUN_DIR/export/model.{safetensors,onnx}. The safetensors file loads back with
`torchlab eval RUN_DIR --weights FILE` or `engine.checkpoint.load_tensors`. The ONNX graph takes
the normalised image batch `[N, C, H, W]` (float32, any N) and returns the logits the run's test
figures came from (with `task.tta_flip`, averaged with the mirror images'); it needs the optional
extra `torchlab[onnx]` (onnx, onnxscript).
"""

import json
from pathlib import Path
from typing import Any

import torch

from torchlab.config import Config, load_run_config
from torchlab.core.checkpoint import load_checkpoint, load_weights, save_tensors
from torchlab.core.errors import TorchlabError
from torchlab.core.files import atomic_write, check_output_folder, refuse_planted_links, torchlab_folder
from torchlab.data import DataInfo
from torchlab.models import build_model, for_checkpoint
from torchlab.tasks.classify import MirrorAveraged

FORMATS = ("safetensors", "onnx")  # also the file suffixes
WEIGHTS_FORMAT = "torchlab-weights/1"


def export(run_dir: Path, fmt: str, out: Path | None = None, checkpoint: str = "best") -> Path:
    """Write the run's `checkpoint` (best or last) weights in `fmt`; returns the file written."""
    if fmt not in FORMATS:
        raise TorchlabError(f"unknown export format '{fmt}'; use {' or '.join(FORMATS)}")
    config = load_run_config(run_dir)
    path = run_dir / "checkpoints" / f"{checkpoint}.pt"
    state = load_checkpoint(path)
    out = out or run_dir / "export" / f"model.{fmt}"
    check_out(out, run_dir, f"model.{fmt}")
    if fmt == "safetensors":
        refuse_other_model(state, config, path)  # the file would carry this run's name on them
        metadata = {
            "format": WEIGHTS_FORMAT,
            "recipe": config.recipe,
            "model_name": config.model.name,
            "epoch": str(state["epoch"]),
            "config": json.dumps(state["config"]),
        }
        save_tensors(out, state["model"], metadata)
        return out
    if config.task.name != "classify":
        raise TorchlabError(f"ONNX export is for classifiers; {run_dir} trains task '{config.task.name}'")
    if "info" not in state:
        raise TorchlabError(f"{path} predates ONNX export (no data info in it); export safetensors instead")
    with for_checkpoint():
        model = build_model(config.model, DataInfo(**state["info"]))
    load_weights(model, state, path)
    if config.task.tta_flip:
        model = MirrorAveraged(model)
    atomic_write(out, lambda f: f.write(onnx_bytes(model.eval(), tuple(state["info"]["input_shape"]))))
    return out


def refuse_other_model(state: dict[str, Any], config: Config, path: Path) -> None:
    """A TorchlabError when checkpoint `state` holds another model's weights than the run's config
    names (a file copied from another run), as loading them into the run's model would be."""
    theirs, ours = state.get("config", {}).get("model") or {}, config.to_dict()["model"]
    if theirs != ours:
        differ = [key for key in {**theirs, **ours} if theirs.get(key) != ours.get(key)]
        said = ", ".join(f"model.{key}={theirs.get(key)} (config.yaml: {ours.get(key)})" for key in differ)
        raise TorchlabError(f"{path} holds weights of another model than the run's config.yaml: {said}")


def check_out(out: Path, run_dir: Path, name: str) -> None:
    """Refuse an `out` that is a folder, or a file in any run or cross-validation folder other than
    this run's export/ (`--out RUN/checkpoints/best.pt` would have replaced a run's best model)."""
    if out.is_dir():
        raise TorchlabError(f"--out {out} is a folder; name the file to write (e.g. {out / name})")
    check_output_folder(out.parent, "--out")
    refuse_planted_links(run_dir)  # export/ a link: the default --out would write outside the run
    owner = torchlab_folder(out.parent)
    if owner is not None and not (owner == run_dir.resolve() and out.resolve().is_relative_to(owner / "export")):
        raise TorchlabError(
            f"--out {out} is inside {owner}, a run or cross-validation whose files it would replace; "
            f"write under {run_dir / 'export'} or elsewhere"
        )


def onnx_bytes(model: torch.nn.Module, input_shape: tuple[int, ...]) -> bytes:
    """The model as an ONNX graph with a dynamic batch dimension."""
    try:
        import onnxscript  # noqa: F401  (the exporter needs it; say so plainly if it is absent)
    except ImportError:
        raise TorchlabError("ONNX export needs the optional extra: pip install 'torchlab[onnx]'") from None
    example = torch.zeros(2, *input_shape)
    program = torch.onnx.export(
        model,
        (example,),
        dynamo=True,
        input_names=["input"],
        output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch")},),
        verbose=False,
    )
    return program.model_proto.SerializeToString()
