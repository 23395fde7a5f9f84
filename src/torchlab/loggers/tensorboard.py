"""TensorBoard, laid out as Keras and TensorBoard's own examples do: one writer per split
(`tensorboard/train`, `tensorboard/val`, `tensorboard/test`), so that each metric's training and
validation curves (and the test value) overlay in one chart under one tag (`loss`, `accuracy`);
the learning rate is a `train` curve. In the run's own folder (`tensorboard/`): each epoch, the
first validation inputs with what the model made of them (classes, values, an auto-encoder's
reconstructions as `preview/outputs`), a GAN's fixed-noise samples (a 2-d GAN's points) after each epoch, the report's
figures at the end, weight and gradient histograms per epoch (`log.histograms`; by default for models
under 1 M parameters), and the HPARAMS session: the keys where the run differs from its recipe.
At the end of the run too: the graph of every network the task trains (GRAPHS, traced on one test
batch; a GAN's critic after its generator) and, for the auto-encoders, VAEs and text models, the
PROJECTOR's points (report/projector.py computes them).
The HPARAMS table takes its metric columns from the split curves and the final test metrics (all of
them, a VAE's test-only `elbo` or a GAN's `confident` as well): compare runs with `tensorboard --logdir runs`.
"""

from pathlib import Path
from typing import Any

import torch

from torchlab.config import Config
from torchlab.loggers import LOGGERS, Embedding, Logger, Snapshots, unit_range, warn
from torchlab.loggers.hparams import changed_hyperparameters
from torchlab.loggers.jsonl import read_metrics
from torchlab.registry import TASKS
from torchlab.tasks import Preview

HISTOGRAMS_BELOW = 1_000_000  # parameters: histograms by default for models smaller than this
PER_EPOCH = "_epoch_"  # a figure file drawn once per epoch (samples_epoch_003.png), logged as it is drawn


def split_and_tag(key: str) -> tuple[str, str]:
    """`train.loss` -> (train, loss); `lr` -> (train, lr); `lr.generator` -> (train, lr/generator)."""
    if key == "lr" or key.startswith("lr."):
        return "train", key.replace(".", "/")
    split, _, metric = key.partition(".")
    return (split, metric) if metric else ("train", key)


def writer(log_dir: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter  # slow import: only when used

    return SummaryWriter(log_dir=str(log_dir))


@LOGGERS.register("tensorboard")
class TensorBoardLogger(Logger):
    wants_preview = True
    shows_graph = True
    shows_embeddings = True

    def __init__(self, run_dir: Path, config: Config) -> None:
        super().__init__(run_dir, config)
        self.root = run_dir / "tensorboard"
        self.writers = {"": writer(self.root)}  # and one per split, made when first written
        self.snapshots = Snapshots(run_dir)

    def writer(self, split: str) -> Any:
        if split not in self.writers:
            self.writers[split] = writer(self.root / split)
        return self.writers[split]

    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int, event: str) -> None:
        for key, value in self.curve_points(metrics, event).items():
            # Every test metric, a test-only one (a VAE's elbo) too: a chart of one point, but HPARAMS takes
            # its metric columns from the scalars, and comparing runs by their final test figures is its use.
            split, tag = split_and_tag(key)
            self.writer(split).add_scalar(tag, value, step)
        if event == "epoch":
            self.snapshots.ended(epoch, step)
            self.log_snapshots()

    def log_snapshots(self) -> None:
        for _, step, samples in self.snapshots.new():
            self.writers[""].add_images("samples", samples, step)

    def log_preview(self, preview: Preview, step: int, epoch: int) -> None:
        for name, images in (("inputs", preview.images), ("outputs", preview.outputs)):
            if images is not None:
                self.writers[""].add_images(f"preview/{name}", unit_range(images), step)
        # Markdown: indented lines keep the columns of the text.
        self.writers[""].add_text(
            "preview/predictions", "\n".join(f"    {line}" for line in preview.text.splitlines()), step
        )

    def log_model(self, model: torch.nn.Module, step: int, epoch: int) -> None:
        if not histograms_on(self.config, model):
            return
        for name, param in model.named_parameters():
            self.writers[""].add_histogram(f"weights/{name}", param.detach().float().cpu(), step)
            if param.grad is not None:
                self.writers[""].add_histogram(f"gradients/{name}", param.grad.detach().float().cpu(), step)

    def finish(self, summary: dict[str, Any]) -> None:
        self.log_snapshots()
        write_session(self.writers[""], self.config, summary.get("status"))
        for w in self.writers.values():
            w.close()
        summary.setdefault("watch", {})["tensorboard"] = f"tensorboard --logdir {self.root}"

    @classmethod
    def log_figures(cls, run_dir: Path, config: Config, plots: list[Path]) -> None:
        """The report's figures as images, at the run's last step (a per-epoch figure at each epoch's):
        each PNG file's bytes as they are (`add_image` would decode and encode it again)."""
        from PIL import Image
        from tensorboard.compat.proto.summary_pb2 import Summary

        last = last_step(run_dir)
        with writer(run_dir / "tensorboard") as w:
            for path in plots:
                name, _, epoch = path.stem.partition(PER_EPOCH)
                if epoch:
                    continue  # a GAN's samples after each epoch: logged as `samples` while it trained
                with Image.open(path) as image:  # reads the header: size and channels
                    (width, height), channels = image.size, len(image.getbands())
                picture = Summary.Image(
                    height=height, width=width, colorspace=channels, encoded_image_string=path.read_bytes()
                )
                w.file_writer.add_summary(Summary(value=[Summary.Value(tag=f"figures/{name}", image=picture)]), last)

    @classmethod
    def log_graph(cls, run_dir: Path, config: Config, model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        """The graph (GRAPHS) of every network the task trains, traced by torch.jit.trace on one batch (see
        `traced`). A model the tracer cannot follow (a packed sequence's lengths) gets one warning line
        instead, and the run goes on."""
        import contextlib
        import io
        import warnings

        model = traced(TASKS.get(config.task.name).networks_of(model), model)
        with writer(run_dir / "tensorboard") as w:
            try:
                # add_graph prints "Error occurs, No graph saved" on failure; the tracer warns about Python values
                with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    # traced here without add_graph's check, which runs the model twice more to compare
                    # traces: time at the end of every run, for a picture of the graph
                    w.add_graph(torch.jit.trace(model, inputs, check_trace=False), inputs)
            except Exception as err:  # noqa: BLE001  (any tracing failure: the graph is a bonus)
                why = next((line.strip() for line in str(err).splitlines() if line.strip()), "")[:160]
                failed = f"{type(model).__name__} failed ({type(err).__name__}: {why})"
                warn(f"no model graph in TensorBoard: tracing {failed}")

    @classmethod
    def log_embeddings(cls, run_dir: Path, config: Config, embeddings: list[Embedding]) -> None:
        """The PROJECTOR's points: tensorboard/projector_config.pbtxt names, per embedding, its
        tensors.tsv, metadata.tsv (the labels) and sprite.png (the thumbnails) under tensorboard/STEP/NAME/."""
        import shutil

        root, step = run_dir / "tensorboard", last_step(run_dir)
        with writer(root) as w:
            for embedding in embeddings:
                tag = embedding.name.replace(" ", "_")
                shutil.rmtree(root / f"{step:05d}" / tag, ignore_errors=True)  # a rerun's: no "dir exists" print
                w.add_embedding(
                    embedding.vectors, metadata=embedding.labels, label_img=embedding.images, global_step=step, tag=tag
                )


class Chained(torch.nn.Module):
    """A task's networks one after the other, each fed the previous one's output, in the order the task
    names them: a GAN's critic(generator(z)), the generator's step."""

    def __init__(self, networks: dict[str, torch.nn.Module]) -> None:
        super().__init__()
        for name, net in networks.items():
            self.add_module(name, net)

    def forward(self, *inputs: torch.Tensor) -> Any:
        out: Any = inputs
        for net in self.children():
            out = net(*out) if isinstance(out, tuple) else net(out)
        return out


def traced(networks: dict[str, torch.nn.Module], model: torch.nn.Module) -> torch.nn.Module:
    """What GRAPHS shows: the model itself when the task trains it whole, else its networks chained.
    TensorBoard shows one graph per run (event folder), the last written: a graph per network would
    each need a run of its own beside train/val/test, so every network goes into the one graph."""
    return model if list(networks.values()) == [model] else Chained(networks)


def last_step(run_dir: Path) -> int:
    """The step of the run's last epoch (0 before any), where its end-of-run pictures are placed."""
    records = read_metrics(run_dir) if (run_dir / "metrics.jsonl").is_file() else []
    return max((r["step"] for r in records if r.get("event") == "epoch"), default=0)


def histograms_on(config: Config, model: torch.nn.Module) -> bool:
    """`log.histograms`, or by default: on for a model under HISTOGRAMS_BELOW parameters."""
    if config.log.histograms is not None:
        return config.log.histograms
    return sum(p.numel() for p in model.parameters()) < HISTOGRAMS_BELOW


def hyperparameters(config: Config) -> dict[str, Any]:
    """HPARAMS' columns: the recipe, then the hyper-parameters where the run differs from it."""
    chosen = {"recipe": config.recipe, **(changed_hyperparameters(config.to_dict()) or {})}
    return {k: v if isinstance(v, bool | int | float | str) else str(v) for k, v in chosen.items()}


def write_session(w: Any, config: Config, status: str | None) -> None:
    """The HPARAMS session of this run: its start (the hyper-parameters) and end (its status).

    No experiment summary: TensorBoard then takes the columns from every run's session together
    and the metrics from the split curves (`val/accuracy`), as `add_hparams` would not."""
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    start = plugin_data_pb2.SessionStartInfo()
    for key, value in hyperparameters(config).items():
        if isinstance(value, bool):
            start.hparams[key].bool_value = value
        elif isinstance(value, int | float):
            start.hparams[key].number_value = value
        else:
            start.hparams[key].string_value = value
    ok = status in ("completed", "early_stopped")
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.Status.Value("STATUS_SUCCESS" if ok else "STATUS_FAILURE"))
    for tag, data in (
        (metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=start)),
        (metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end)),
    ):
        data.version = metadata.PLUGIN_DATA_VERSION
        plugin = SummaryMetadata.PluginData(plugin_name=metadata.PLUGIN_NAME, content=data.SerializeToString())
        w.file_writer.add_summary(Summary(value=[Summary.Value(tag=tag, metadata=SummaryMetadata(plugin_data=plugin))]))
