"""What a logger may show of a finished run besides pictures (TensorBoard's GRAPHS and PROJECTOR):
the model's graph, traced on one test batch, and embedding points: the latent codes (μ for a VAE)
of the first test samples, with their labels and thumbnails, for the auto-encoders and VAEs; the
vectors of the most frequent words, labelled with the words, for the text models. Computed only
when one of the run's loggers shows them (`Logger.shows_graph`, `shows_embeddings`), and kept
cheap: at most MAX_POINTS points, thumbnails of THUMBNAIL x THUMBNAIL pixels. Nothing is drawn
into plots/.
"""

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from torchlab.data.loaders import to_unit_range
from torchlab.loggers import Embedding, showing
from torchlab.report import FinishedRun, figure

MAX_POINTS = 1000
THUMBNAIL = 28  # pixels a side: a sprite of 1000 thumbnails is 896 x 896
GRAPH_BATCH = 8  # samples traced for the graph (its shapes show this batch size)


@figure("model-graph")
@torch.no_grad()
def model_graph(run: FinishedRun, plots_dir: Path) -> None:
    loggers = showing(run.config, "graph")
    if not loggers:
        return
    inputs = graph_inputs(run)
    for cls in loggers:
        cls.log_graph(run.run_dir, run.config, run.model, inputs)


def graph_inputs(run: FinishedRun) -> tuple[torch.Tensor, ...]:
    """The model's inputs for one small test batch: a batch is `(*inputs, labels)`; a GAN's model is
    its generator, on noise."""
    if callable(getattr(run.model, "noise", None)):
        return (run.model.noise(GRAPH_BATCH),)
    *inputs, _ = run.first_test_samples(GRAPH_BATCH)
    return tuple(inputs)


@figure("projector")
@torch.no_grad()
def projector(run: FinishedRun, plots_dir: Path) -> None:
    loggers = showing(run.config, "embeddings")
    if not loggers:
        return
    embeddings = [e for e in (latent_codes(run), word_vectors(run)) if e is not None]
    for cls in loggers if embeddings else ():
        cls.log_embeddings(run.run_dir, run.config, embeddings)


def latent_codes(run: FinishedRun) -> Embedding | None:
    """An auto-encoder's or VAE's codes (`task.code`: μ for a VAE) of the first MAX_POINTS test images."""
    task, normalization = run.task, run.info.normalization
    if not callable(getattr(task, "code", None)) or normalization is None:
        return None
    codes, labels, images, n = [], [], [], 0
    for x, y, *_ in run.test_loader():
        x, y = x[: MAX_POINTS - n], y[: MAX_POINTS - n]
        codes.append(task.code(x).flatten(1).float().cpu())
        labels.append(y.cpu())
        images.append(thumbnails(to_unit_range(x, normalization)))
        n += len(x)
        if n >= MAX_POINTS:
            break
    names = run.info.class_names
    label = [names[i] if names and 0 <= i < len(names) else str(i) for i in torch.cat(labels).tolist()]
    return Embedding("latent codes", torch.cat(codes), label, torch.cat(images))


def thumbnails(images: torch.Tensor) -> torch.Tensor:
    """Pixels in [0, 1] as THUMBNAIL x THUMBNAIL images on the CPU."""
    images = images.float()
    if images.shape[-2:] != (THUMBNAIL, THUMBNAIL):
        images = F.interpolate(images, size=(THUMBNAIL, THUMBNAIL), mode="bilinear", antialias=True)
    return images.clamp(0, 1).cpu()


def word_vectors(run: FinishedRun) -> Embedding | None:
    """A text model's embedding table (the nn.Embedding over the run's vocabulary): the vectors of the
    MAX_POINTS most frequent words (the vocabulary is ordered by frequency), <pad> and <unk> left out."""
    vocab = run.info.vocab
    if not vocab:
        return None
    table = next(
        (m for m in run.model.modules() if isinstance(m, nn.Embedding) and m.num_embeddings == len(vocab)), None
    )
    if table is None:
        return None
    ids = [i for i, word in enumerate(vocab) if word not in ("<pad>", "<unk>")][:MAX_POINTS]
    return Embedding("word embeddings", table.weight[ids].detach().float().cpu(), [vocab[i] for i in ids])
