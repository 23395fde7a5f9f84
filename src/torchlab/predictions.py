"""What a run's model makes of inputs: tensors and sentences from Python (`Run.predict`, which
`torchlab.load` gives), image files and sentences from the command line (`torchlab predict`)."""

import contextlib
import dataclasses
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from torchlab.api import checkpoint_of
from torchlab.config import Config, load_run_config
from torchlab.core.checkpoint import load_checkpoint, load_weights
from torchlab.core.errors import TorchlabError, memory_named, out_of_memory
from torchlab.core.runtime import resolve_device
from torchlab.core.words import counted
from torchlab.data import DataInfo, planned_info
from torchlab.data.folder import IMAGE_ERRORS, fitted, load_rgb
from torchlab.data.loaders import Normalize
from torchlab.data.mnist import center_crop
from torchlab.data.text import Vocabulary, pad, tokenize
from torchlab.models import build_model, for_checkpoint
from torchlab.tasks import TASKS, Task, build_task
from torchlab.tasks.first_batch import CAUGHT, probing

CHECKPOINTS = ("best", "last")


@dataclass(eq=False, repr=False)
class LoadedRun:
    """A run's model, loaded from a checkpoint, and what it makes of inputs (`Run` adds the rest)."""

    run_dir: Path
    config: Config
    device: str = "cpu"  # where `model` is loaded
    given_model: nn.Module | None = None  # to load weights into, if not rebuilt
    checkpoint: str | None = None  # "best" or "last"; None: best.pt, last.pt before a first best

    def __post_init__(self) -> None:
        """Refuse a checkpoint that is neither best nor last, and a device that is not here."""
        if self.checkpoint is not None and self.checkpoint not in CHECKPOINTS:
            raise TorchlabError(f"torchlab.load: checkpoint= takes 'best', 'last' or None, got {self.checkpoint!r}")
        resolve_device(self.device)

    @cached_property
    def info(self) -> DataInfo:
        recorded = self._checkpoint["info"]
        info = DataInfo.from_dict(recorded)
        if "uncropped" not in recorded and getattr(self.config.data, "center_crop", None) is not None:
            # a checkpoint older than DataInfo.uncropped: the dataset's planned info says it
            info = dataclasses.replace(info, uncropped=planned_info(self.config.data).uncropped)
        return info

    @cached_property
    def checkpoint_path(self) -> Path:
        """checkpoints/best.pt or last.pt, as `checkpoint` says; a missing one is refused naming the other."""
        folder = self.run_dir / "checkpoints"
        name = self.checkpoint or ("best" if (folder / "best.pt").is_file() else "last")
        read_other = lambda other: f"torchlab.load(run_dir, checkpoint={other!r}) loads it"  # noqa: E731
        return checkpoint_of(self.run_dir, self.config, name, f"writes its {name}.pt", read_other)

    @cached_property
    def _checkpoint(self) -> dict[str, Any]:
        return load_checkpoint(self.checkpoint_path)

    @cached_property
    def model(self) -> nn.Module:
        """The best weights (last.pt's before a first best; `checkpoint`'s where given), loaded weights-only,
        in eval mode, on `device`."""
        with for_checkpoint():
            model = self.given_model or build_model(self.config.model, self.info)
        load_weights(model, self._checkpoint, self.checkpoint_path)
        return model.to(resolve_device(self.device)).eval()

    @torch.no_grad()
    def predict(self, *inputs: torch.Tensor | str | list[str]) -> torch.Tensor:
        """What the best model makes of `inputs`, as the run's task reads it (a classifier: the classes).

        As many batches of inputs as the task's `predict` takes (one; a task of your own whose model
        takes two, `predict(self, ids, lengths)`, two), each a tensor or numpy array with a row per
        sample. Images as stored (uint8 pixels, `[N, H, W]` for one channel or `[N, C, H, W]`) are
        scaled and normalised as the run's loader did it. A text run takes sentences (a str or a list of
        them), tokenised and padded as its loader did. Other inputs are taken as the loader gives them;
        one the model cannot take is refused naming what it was given and where it failed."""
        task = self.built_task("predict")
        return traced(task, task.predict, self.prepared(task, inputs))

    @torch.no_grad()
    def probabilities(self, *inputs: torch.Tensor | str | list[str]) -> torch.Tensor:
        """A classifier's probability of each class for `inputs`, read as `predict` reads them: `[N, classes]`,
        each row summing to 1 (a binary classifier's `[p(0), p(1)]`); its argmax is `predict`'s class."""
        task = self.built_task("probabilities")
        return traced(task, task.probabilities, self.prepared(task, inputs))

    def prepared(self, task: Task, inputs: tuple[Any, ...]) -> tuple[torch.Tensor, ...]:
        """`inputs` as the task's `predict` takes them, on the model's device (see `predict`)."""
        device = resolve_device(self.device)
        if self.info.vocab is not None:
            return tuple(x.to(device) for x in self.as_token_ids(inputs))
        check_input_count(task, len(inputs))  # it was the task's TypeError, "predict() takes 2 positional ..."
        first, *more = inputs
        xs = (self.as_loaded(first, task, device), *(self.as_tensor(x, device) for x in more))
        check_one_row_per_sample(xs)
        return xs

    def built_task(self, doing: str) -> Task:
        """The run's task around its best model, for `predict`, `probabilities` or `evaluate`."""
        name = self.config.task.name
        if TASKS.get(name).predict is Task.predict:
            raise TorchlabError(f"a run of task {name} has no {doing}; its network is `run.model`")
        return build_task(self.config.task, self.model, self.info)

    def as_token_ids(self, inputs: tuple[Any, ...]) -> tuple[torch.Tensor, ...]:
        """Sentences -> (ids [N, L], lengths [N]) with the run's vocabulary; the loader's pair as it is."""
        if len(inputs) == 1 and isinstance(inputs[0], str):
            inputs = ([inputs[0]],)
        if len(inputs) == 1 and isinstance(inputs[0], list | tuple) and all(isinstance(s, str) for s in inputs[0]):
            if not inputs[0]:
                raise TorchlabError("predict: no sentences given")
            vocab = Vocabulary(self.info.vocab or [])
            cut = getattr(self.config.data, "max_length", None)  # as the run's data were
            return pad([vocab.encode(tokenize(sentence)[:cut]) for sentence in inputs[0]])
        if len(inputs) == 2 and all(isinstance(x, torch.Tensor) for x in inputs):
            return inputs
        raise TorchlabError(
            "a text run predicts sentences (a str or a list of str), or token ids [N, L] with their lengths [N]"
        )

    def as_loaded(self, x: Any, task: Task, device: torch.device, doing: str = "predict") -> torch.Tensor:
        """A batch as the run's loader gave it: uint8 images of a recipe's dataset scaled and normalised (and
        cut to their centre where its loader cut them), floats (numpy's float64 too) in the model's precision.
        Another shape is refused, naming both."""
        x = cut_as_loaded(as_tensor(x, device, doing), self.info)
        shape, normalization = self.info.input_shape, self.info.normalization
        if x.dtype == torch.uint8 and tuple(x.shape[1:]) == shape[1:] and shape[0] == 1:  # [N, H, W]: one channel
            x = x.unsqueeze(1)
        expected = ["T", *shape[1:]] if task.any_length else list(shape)

        def one_sample(dims: tuple[int, ...]) -> bool:  # a forecaster's "T": a sequence of any length
            return len(dims) == len(expected) and all(e in ("T", n) for e, n in zip(expected, dims, strict=True))

        if x.dim() == 0 or not one_sample(tuple(x.shape[1:])):
            what = "images" if self.info.images else "inputs"
            hint = " (one sample: x[None])" if one_sample(tuple(x.shape)) else ""
            if self.info.uncropped and tuple(x.shape[-2:]) == self.info.uncropped:  # floats of the whole size
                side = " x ".join(map(str, self.info.uncropped))
                hint = (
                    f" (uint8 pixels of the whole {side} images are cut to their centre, as the run's loader cut them)"
                )
            raise TorchlabError(
                f"{doing} takes {what} of shape [N, {', '.join(map(str, expected))}], got {list(x.shape)}{hint}"
            )
        if x.dtype == torch.uint8 and normalization:
            return Normalize(*normalization, x.device)(x)
        if (given := self.info.input_dtype) and x.is_floating_point() != getattr(torch, given).is_floating_point:
            # a fit's model reads its inputs as they came: uint8 pixels are not floats in [0, 1]
            raise TorchlabError(f"{doing} takes {given} inputs, as the run trained on, got {str(x.dtype)[6:]}")
        if given and not x.is_floating_point():
            return x.to(getattr(torch, given))
        return self.in_precision(x)

    def as_tensor(self, x: Any, device: torch.device) -> torch.Tensor:
        """An input after the first, which the run records no shape of: a tensor (numpy's too) on `device`,
        floats in the model's precision."""
        return self.in_precision(as_tensor(x, device, "predict"))

    def in_precision(self, x: torch.Tensor) -> torch.Tensor:
        """Floating-point `x` in the precision of the model's weights (numpy's float64 into float32 ones)."""
        parameter = next(self.model.parameters(), None)
        return x.to(parameter.dtype) if parameter is not None and x.is_floating_point() else x


def cut_as_loaded(images: torch.Tensor, info: DataInfo) -> torch.Tensor:
    """uint8 images of the size the run's loader cut its inputs from (`data.center_crop`), cut to their
    centre as it cut them; any other tensor as it is."""
    if info.uncropped is None or images.dtype != torch.uint8 or tuple(images.shape[-2:]) != info.uncropped:
        return images
    return center_crop(images, info.input_shape[-1])


def as_tensor(x: Any, device: torch.device, doing: str) -> torch.Tensor:
    """`x`, a tensor or numpy array, as a tensor on `device`; anything else is refused naming its type."""
    if not isinstance(x, torch.Tensor) and not hasattr(x, "__array__"):
        raise TorchlabError(f"{doing} takes tensors or numpy arrays, got {type(x).__name__}")
    return torch.as_tensor(x, device=device)


def check_input_count(task: Task, given: int) -> None:
    """Refuse another number of inputs than the task's `predict` takes, naming its parameters: the
    built-in tasks' take one batch (`predict(x)`), a task of your own as many as it names."""
    parameters = inspect.signature(task.predict).parameters.values()
    named = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    spread = any(p.kind == p.VAR_POSITIONAL for p in parameters)  # predict(self, *inputs)
    least = max(1, sum(p.default is p.empty for p in named))
    if least <= given and (spread or given <= len(named)):
        return
    if spread or least < len(named):
        count = f"{least} or more inputs" if spread else f"{least} to {len(named)} inputs"
    else:
        count = counted(least, "input")
    names = ", ".join(
        ("*" if p.kind == p.VAR_POSITIONAL else "") + p.name for p in parameters if p.kind <= p.VAR_POSITIONAL
    )
    raise TorchlabError(
        f"predict of this run takes {count}, as task {task.cfg.name}'s predict({names}) names them: a batch of "
        f"each, a tensor or numpy array with a row per sample; got {given}"
    )


def check_one_row_per_sample(inputs: tuple[torch.Tensor, ...]) -> None:
    """Refuse inputs that are not batches of as many samples (rows) each."""
    if any(x.dim() == 0 for x in inputs) or len({len(x) for x in inputs}) > 1:
        shapes = ", ".join(str(list(x.shape)) for x in inputs)
        raise TorchlabError(f"predict's inputs each hold a row per sample, as many rows in each; got shapes {shapes}")


def traced(task: Task, call: Callable[..., torch.Tensor], xs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """`call(*xs)`, the task's predict or probabilities; where the model fails, called again, traced,
    to name where (hooks on every call would slow each one). Out of memory is one line naming how many
    inputs went in at once, and is not called again."""
    name = call.__name__
    at_once = f"{counted(len(xs[0]), 'input')} given to {name} at once"
    with memory_named("predicting", at_once, f"how many {name} takes at once"):
        try:
            return call(*xs)
        except CAUGHT as err:
            if out_of_memory(err) is None:
                with probing(task, training=False, autocast=contextlib.nullcontext):
                    call(*xs)
            raise


Prediction = dict[str, Any]  # {"file" or "sentence": the input, "predictions": [{"label", "index", "probability"}]}


def predict_inputs(
    run_dir: Path, inputs: list[str], top: int = 3, checkpoint: str = "best", device: str = "cpu"
) -> list[Prediction]:
    """`torchlab predict`: the `top` most probable classes of each input, an image file for a run that
    classifies images, a sentence ('-': the lines of stdin) for one that classifies text, on `device`. Every
    input is read before the model sees one: a bad one is refused before anything is printed."""
    if top < 1:
        raise TorchlabError(f"--top takes 1 or more, got {top}")
    config = load_run_config(run_dir)
    then, read_other = f"predicts with its {checkpoint}.pt", lambda other: f"`--checkpoint {other}` predicts with it"
    checkpoint_of(run_dir, config, checkpoint, then, read_other)
    run = LoadedRun(run_dir, config, device, checkpoint=checkpoint)
    if what_it_takes(run) == "sentences":
        given, kind = sentences(inputs), "sentence"
        batch: list[str] | torch.Tensor = given
    else:
        given, kind = inputs, "file"
        batch = image_batch(inputs, run.info)
    step = config.data.eval_batch_size  # the run's evaluation batches: a thousand photos do not meet the model at once
    probabilities = torch.cat([run.probabilities(batch[i : i + step]) for i in range(0, len(given), step)])
    names = run.info.class_names or [str(i) for i in range(probabilities.shape[1])]
    rows = zip(given, probabilities, strict=True)
    return [{kind: text, "predictions": ranked(row, names, top)} for text, row in rows]


def what_it_takes(run: LoadedRun) -> str:
    """'images' or 'sentences', what `torchlab predict` reads for a classifier of either; another run is
    refused, naming what Python offers it instead."""
    name = run.config.task.name
    task = TASKS.get(name)
    if task.probabilities is not Task.probabilities:
        run.model  # noqa: B018 (loaded first: a checkpoint of another model is refused as that, not by its inputs)
        if run.info.vocab is not None:
            return "sentences"
        if run.info.images:
            return "images"
    python = ".model is its network" if task.predict is Task.predict else ".predict(tensor) gives its outputs"
    raise TorchlabError(
        f"{run.run_dir} is a run of task {name} on inputs of shape {list(run.info.input_shape)}: `torchlab predict` "
        f"takes image files for a classifier of images, sentences for one of text; in Python, "
        f"torchlab.load({str(run.run_dir)!r}){python}"
    )


def sentences(inputs: list[str]) -> list[str]:
    """The sentences given, '-' standing for the lines of stdin (blank ones skipped)."""
    given: list[str] = []
    for text in inputs:
        read = [line.strip() for line in sys.stdin if line.strip()] if text == "-" else [text]
        if not read or not all(sentence.strip() for sentence in read):
            where = "stdin ('-') holds no sentence" if text == "-" else "an empty sentence"
            raise TorchlabError(f"{where}: give this text classifier sentences of words")
        given += read
    return given


def image_batch(paths: list[str], info: DataInfo) -> torch.Tensor:
    """The images at `paths` as the run's inputs: its channels (grey or RGB) and size (scaled to cover it,
    then the centre; where its loader cut the centre from whole images, `data.center_crop`, scaled to cover
    the whole size, then cut so), uint8 `[N, C, H, W]` that `predict` normalises as the run's loader did.
    A run of float inputs without a normalisation of its own (a torchlab.fit's) gets pixels in [0, 1]."""
    channels, *size = info.input_shape
    whole = info.uncropped or size
    batch = torch.stack([fitted(read_image(Path(path), channels), *whole) for path in paths])
    batch = cut_as_loaded(batch, info)
    floats = info.input_dtype is None or getattr(torch, info.input_dtype).is_floating_point
    return batch.float() / 255 if info.normalization is None and floats else batch


def read_image(path: Path, channels: int) -> Image.Image:
    """The image at `path`, grey for a run of one channel, else RGB; a missing or unreadable file is refused."""
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise TorchlabError(f"{path} {what}: this run classifies images; give image files (PNG, JPEG)")
    try:
        image = load_rgb(path)
    except IMAGE_ERRORS as err:
        tensors = path.suffix in (".pt", ".pth")  # torch.save's: Python reads them, the command line takes files
        python = "in Python, torchlab.load(RUN_DIR).predict(torch.load(FILE))"
        instead = python if tensors else "give a PNG or JPEG file"
        raise TorchlabError(f"{path} is not an image this run can read ({err}); {instead}") from None
    return image.convert("L") if channels == 1 else image


def ranked(probabilities: torch.Tensor, names: list[str], top: int) -> list[dict[str, Any]]:
    """The `top` most probable classes of one input, most probable first."""
    values, indices = probabilities.topk(min(top, len(probabilities)))
    return [
        {"label": names[i], "index": i, "probability": round(p, 6)}
        for p, i in zip(values.tolist(), indices.tolist(), strict=True)
    ]
