"""TensorBoard as its users expect, read back with TensorBoard's own EventAccumulator: one writer per
split so that train and val overlay under one tag, the report's figures as images, weight and
gradient histograms per epoch, HPARAMS with what the run changed and every final test metric."""

import io
import json

import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata, plugin_data_pb2
from torch import nn

from tests.conftest import sst2_copy
from torchlab.data.mnist import CLASSES
from torchlab.loggers import log_figures
from torchlab.loggers.tensorboard import TensorBoardLogger, histograms_on, hyperparameters, split_and_tag
from torchlab.recipes import load_recipe
from torchlab.tasks import Preview


def events(path) -> EventAccumulator:
    return EventAccumulator(str(path), size_guidance={"images": 0, "histograms": 0, "scalars": 0}).Reload()


def session(root) -> dict:
    """The HPARAMS session written in the run's own folder: {hparam: value}, and its status."""
    content = events(root).PluginTagToContent(metadata.PLUGIN_NAME)
    start = plugin_data_pb2.HParamsPluginData.FromString(content[metadata.SESSION_START_INFO_TAG])
    end = plugin_data_pb2.HParamsPluginData.FromString(content[metadata.SESSION_END_INFO_TAG])
    values = {
        k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
        for k, v in start.session_start_info.hparams.items()
    }
    return {"hparams": values, "status": end.session_end_info.status, "experiment": metadata.EXPERIMENT_TAG in content}


def test_tags_name_the_metric_and_the_writer_the_split():
    assert split_and_tag("train.loss") == ("train", "loss")
    assert split_and_tag("val.accuracy") == ("val", "accuracy")
    assert split_and_tag("lr") == ("train", "lr")
    assert split_and_tag("lr.generator") == ("train", "lr/generator")


def small_model() -> nn.Module:
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    model(torch.randn(5, 4)).sum().backward()
    return model


def test_a_run_writes_overlaid_splits_images_histograms_and_its_hparams(tmp_path):
    config = load_recipe("sine-lstm", ["optim.lr=0.002", "data.subset=100", "log.loggers=tensorboard"])
    logger = TensorBoardLogger(tmp_path, config)
    model = small_model()
    for epoch in (1, 2):
        logger.log_metrics({"train.loss": 1.0 / epoch, "lr": 0.002}, 10 * epoch - 5, epoch - 1, "step")
        logger.log_metrics(
            {"train.loss": 0.9 / epoch, "val.loss": 0.8 / epoch, "lr": 0.002}, 10 * epoch, epoch, "epoch"
        )
        logger.log_preview(Preview(torch.rand(4, 1, 8, 8), "predicted 1\ntrue 2"), 10 * epoch, epoch)
        logger.log_model(model, 10 * epoch, epoch)
    logger.log_metrics({"test.loss": 0.3, "test.free_mse": 0.5}, 20, 2, "test")
    summary = {"status": "completed"}
    logger.finish(summary)
    assert summary["watch"]["tensorboard"] == f"tensorboard --logdir {tmp_path / 'tensorboard'}"

    root = tmp_path / "tensorboard"
    train, val, test = (events(root / split) for split in ("train", "val", "test"))
    # Train and val under one tag: TensorBoard draws them in one chart, a colour per run.
    assert [(e.step, e.value) for e in train.Scalars("loss")] == [(5, 1.0), (15, 0.5)]  # the logged intervals
    assert [(e.step, e.value) for e in val.Scalars("loss")] == [(10, pytest.approx(0.8)), (20, pytest.approx(0.4))]
    assert train.Tags()["scalars"] == ["loss", "lr"] and val.Tags()["scalars"] == ["loss"]
    assert sorted(test.Tags()["scalars"]) == ["free_mse", "loss"]  # test-only free_mse too: HPARAMS' columns
    own = events(root)
    assert own.Tags()["scalars"] == []  # no `hparam/*` cards of one point
    assert len(own.Images("preview/inputs")) == 2
    assert {"weights/0.weight", "weights/2.bias", "gradients/0.weight"} <= set(own.Tags()["histograms"])
    assert [e.step for e in own.Histograms("gradients/2.weight")] == [10, 20]

    written = session(root)
    assert written["hparams"] == {"recipe": "sine-lstm", "optim.lr": 0.002, "data.subset": 100.0}  # not log.*
    assert written["status"] == 1 and not written["experiment"]  # STATUS_SUCCESS; columns from every run's session

    plot = tmp_path / "plots" / "confusion_matrix.png"
    plot.parent.mkdir()
    Image.new("RGB", (60, 40), "steelblue").save(plot)
    Image.new("RGB", (60, 40), "gold").save(tmp_path / "plots" / "samples_epoch_001.png")
    log_figures(tmp_path, config, sorted((tmp_path / "plots").glob("*.png")))
    images = events(root)
    assert [i for i in images.Tags()["images"] if i.startswith("figures/")] == ["figures/confusion_matrix"]
    (picture,) = images.Images("figures/confusion_matrix")
    assert (picture.width, picture.height) == (60, 40)
    assert picture.encoded_image_string == plot.read_bytes()  # the figure's own PNG, not encoded again


def test_a_gans_samples_are_logged_after_each_epoch(tmp_path):
    config = load_recipe("mnist-dcgan", ["log.loggers=tensorboard"])
    logger = TensorBoardLogger(tmp_path, config)
    for epoch in (1, 2):
        logger.log_metrics({"train.loss": 1.0, "val.loss": 1.0}, 100 * epoch, epoch, "epoch")
        (tmp_path / "snapshots").mkdir(exist_ok=True)
        torch.save({"samples": torch.rand(8, 1, 28, 28)}, tmp_path / "snapshots" / f"epoch-{epoch:03d}.pt")
    logger.finish({"status": "completed"})
    assert [e.step for e in events(tmp_path / "tensorboard").Images("samples")] == [100, 200]


@pytest.mark.parametrize("recipe", ["gaussians-gan", "gaussians-wgan-gp", "course-gaussians-wgan-gp"])
def test_a_2d_gan_shows_its_points_over_the_real_modes_after_each_epoch(recipe, tmp_path):
    """Before: a GAN on 2-d points had no live picture (its snapshot was empty), an image GAN had its samples."""
    from torchlab.cli import main

    assert main(["train", recipe, "--out", str(tmp_path), *TINY, "train.epochs=2"]) == 0
    images = events(tmp_path / "tensorboard").Images("samples")
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [e.step for e in images] == [r["step"] for r in logged if r.get("event") == "epoch"]
    with Image.open(io.BytesIO(images[-1].encoded_image_string)) as picture:
        colours = {colour for _, colour in picture.convert("RGB").getcolors(1 << 16)}
    assert {(0, 0, 0), (230, 160, 0)} <= colours  # the modes' centres, the generated points


def test_histograms_are_on_by_default_below_a_million_parameters():
    config = load_recipe("mnist-mlp")
    assert config.log.histograms is None
    assert histograms_on(config, nn.Linear(784, 1000)) and not histograms_on(config, nn.Linear(1000, 1000))
    assert not histograms_on(load_recipe("mnist-mlp", ["log.histograms=false"]), nn.Linear(2, 2))
    assert histograms_on(load_recipe("mnist-mlp", ["log.histograms=true"]), nn.Linear(1000, 1000))


def test_hparams_of_a_default_run_name_only_its_recipe():
    assert hyperparameters(load_recipe("mnist-cnn")) == {"recipe": "mnist-cnn"}
    changed = load_recipe(
        "mnist-cnn", ["optim.betas=0.8,0.9", "train.device=cpu", "log.preview=0", "model.widths=[8,16]"]
    )
    assert hyperparameters(changed) == {"recipe": "mnist-cnn", "optim.betas": "[0.8, 0.9]", "model.widths": "[8, 16]"}


TINY = ["--logger", "tensorboard", "-q", "data.subset=1000", "data.eval_subset=500", "train.epochs=1"]


def projector(root) -> dict:
    """TensorBoard's projector config, read as its plugin reads it: {tensor name: its EmbeddingInfo}."""
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    config = text_format.Parse((root / "projector_config.pbtxt").read_text(), ProjectorConfig())
    return {e.tensor_name.split(":")[0]: e for e in config.embeddings}


@pytest.mark.slow
def test_a_classifier_run_has_its_model_graph(tmp_path, mnist_root, capsys):
    from torchlab.cli import main

    assert main(["train", "mnist-mlp", "--out", str(tmp_path), *TINY]) == 0
    own = events(tmp_path / "tensorboard")
    assert own.Tags()["graph"]
    names = [node.name for node in own.Graph().node]
    assert "input/x" in names and any("Linear" in name for name in names)
    assert "warning" not in capsys.readouterr().err
    assert not (tmp_path / "tensorboard" / "projector_config.pbtxt").exists()  # a classifier of images: no codes


@pytest.mark.slow
def test_a_gans_graph_holds_its_generator_and_its_critic(tmp_path, capsys):
    """Before: GRAPHS traced the model's forward, the generator alone; the critic was missing."""
    from torchlab.cli import main

    assert main(["train", "gaussians-gan", "--out", str(tmp_path), *TINY]) == 0
    nodes = events(tmp_path / "tensorboard").Graph().node
    scopes = {node.name.split("/")[1] for node in nodes if node.name.startswith("Chained/")}
    assert scopes == {"Sequential[generator]", "Sequential[critic]"}
    # one graph, the generator's step: its samples flow into the critic
    critic_inputs = {i for node in nodes if "[critic]" in node.name for i in node.input}
    assert any("[generator]" in name for name in critic_inputs)
    assert "warning" not in capsys.readouterr().err


def previewed(root) -> tuple[list[str], EventAccumulator]:
    """The last epoch's preview text, a line per row (without the Markdown indent), and the events of
    the run's own folder."""
    own = events(root)
    text = own.Tensors("preview/predictions/text_summary")[-1].tensor_proto.string_val[0].decode()
    return [line.removeprefix("    ") for line in text.splitlines()], own


@pytest.mark.slow
def test_a_text_classifier_previews_each_sentence_with_its_predicted_and_true_class(tmp_path, sst2_root):
    """Before: the binary task (sst2-lstm) had no preview in TensorBoard or Visdom; the multi-class one had."""
    from torchlab.cli import main

    assert main(["train", "sst2-lstm", "--out", str(tmp_path), *TINY]) == 0
    lines, own = previewed(tmp_path / "tensorboard")
    rows, sentences = lines[1::2], lines[2::2]
    assert lines[0].split() == ["predicted", "true"] and len(rows) == len(sentences) == 16  # log.preview
    for row in rows:
        predicted, true, *mark = row.split()
        assert {predicted, true} <= {"negative", "positive"}
        assert mark == (["<-", "wrong"] if predicted != true else [])
    assert all(s.startswith("    ") and s.strip() for s in sentences)  # its words, under its row
    assert not [tag for tag in own.Tags()["images"] if tag.startswith("preview/")]  # token ids are no pictures


@pytest.mark.slow
def test_a_text_preview_shows_each_sentence_as_its_file_wrote_it(tmp_path):
    """Before: a sentence was its tokens read back through the vocabulary: "the good k - 19 film , no . 3"."""
    from torchlab.cli import main

    phrases = [f"The {word} K-19 film, no. {i}" for i in range(20) for word in ("GOOD", "Bad")]
    root = sst2_copy(tmp_path, [f"{phrase}\t{int('GOOD' in phrase)}" for phrase in phrases])
    assert main(["train", "sst2-lstm", "--data-dir", str(root), "--out", str(tmp_path / "run"), *TINY]) == 0
    sentences = [line.strip() for line in previewed(tmp_path / "run" / "tensorboard")[0][2::2]]
    assert sentences and set(sentences) <= set(phrases)  # the validation phrases, as train.tsv has them


def fitted_regression(out) -> None:
    """A regression of a model of one's own, as `torchlab.fit` runs it (2 epochs)."""
    import torchlab

    x = torch.randn(400, 3, generator=torch.Generator().manual_seed(0))
    model = nn.Linear(3, 2)
    torchlab.fit(model, (x, x[:, :2] * 2), test=(x[:50], x[:50, :2] * 2), task="regress", out=out, train__epochs=2)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("train", "heading", "pictures"),
    [
        (["sine-lstm"], "predicted next true next", False),
        (["mnist-ae"], "squared error per pixel (pixels in [0, 1])", True),
        (fitted_regression, "predicted true", False),
    ],
    ids=["forecast", "reconstruct", "regress"],
)
def test_every_family_previews_what_the_model_made_of_the_first_inputs(train, heading, pictures, tmp_path, mnist_root):
    """Before: only classifiers sent a live preview; a forecaster, an auto-encoder or a regression sent none."""
    from torchlab.cli import main

    if callable(train):
        train(tmp_path)
    else:
        assert main(["train", *train, "--out", str(tmp_path), *TINY]) == 0
    lines, own = previewed(tmp_path / "tensorboard")
    assert lines[0].split() == heading.split() and len(lines) == 1 + 16
    values = [[float(v) for v in line.replace(",", " ").split()] for line in lines[1:]]
    assert all(len(row) in (1, 2, 4) for row in values)  # an error, or each predicted and true value
    shown = [tag for tag in own.Tags()["images"] if tag.startswith("preview/")]
    assert shown == (["preview/inputs", "preview/outputs"] if pictures else [])
    if pictures:  # the 16 inputs and their reconstructions, 8 to a row, at the epoch's step
        inputs, outputs = own.Images("preview/inputs")[-1], own.Images("preview/outputs")[-1]
        assert (inputs.width, inputs.height, inputs.step) == (outputs.width, outputs.height, outputs.step)
        assert (outputs.width, outputs.height) == (8 * 28, 2 * 28)


@pytest.mark.slow
def test_a_vae_gives_the_projector_its_test_codes_labels_and_thumbnails(tmp_path, mnist_root):
    from torchlab.cli import main

    assert main(["train", "mnist-vae", "--out", str(tmp_path), *TINY]) == 0
    root = tmp_path / "tensorboard"
    (info,) = projector(root).values()
    assert info.tensor_name.startswith("latent_codes:")
    rows = [line.split("\t") for line in (root / info.tensor_path).read_text().splitlines()]
    latent = load_recipe("mnist-vae").model.latent
    assert len(rows) == 500 and {len(row) for row in rows} == {latent}  # μ of each test sample (eval_subset)
    labels = (root / info.metadata_path).read_text().splitlines()
    assert len(labels) == 500 and set(labels) == set(CLASSES["MNIST"])  # the class names, for colouring
    assert labels[0] == "7 - seven"  # MNIST's first test digit
    assert list(info.sprite.single_image_dim) == [28, 28]
    with Image.open(root / info.sprite.image_path) as sprite:
        assert sprite.size == (28 * 23, 28 * 23)  # 500 thumbnails in a 23 x 23 square


@pytest.mark.slow
@pytest.mark.parametrize(("recipe", "test_only"), [("mnist-vae", "elbo"), ("sine-lstm", "free_mse")])
def test_hparams_gets_every_final_test_metric_of_a_run(recipe, test_only, tmp_path, mnist_root):
    """A metric only the test measures (a VAE's elbo, a forecaster's free_mse) never reached HPARAMS."""
    from torchlab.cli import main

    assert main(["train", recipe, "--out", str(tmp_path), *TINY]) == 0
    tested = json.loads((tmp_path / "summary.json").read_text())["test"]
    test = events(tmp_path / "tensorboard" / "test")  # HPARAMS' metric columns: the session's scalars
    assert {tag: test.Scalars(tag)[-1].value for tag in test.Tags()["scalars"]} == pytest.approx(tested)
    assert test_only in tested


@pytest.mark.slow
def test_a_text_model_gives_the_projector_its_most_frequent_words(tmp_path):
    from torchlab.cli import main

    assert main(["train", "sst2-lstm", "--out", str(tmp_path), *TINY]) == 0
    root = tmp_path / "tensorboard"
    (info,) = projector(root).values()
    assert info.tensor_name.startswith("word_embeddings:") and not info.sprite.image_path
    words = (root / info.metadata_path).read_text().splitlines()
    assert len(words) == 1000 and "<pad>" not in words and "<unk>" not in words
    assert words[:2] == ["the", ","]  # the vocabulary's order: most frequent first
    rows = (root / info.tensor_path).read_text().splitlines()
    assert len(rows) == 1000 and len(rows[0].split("\t")) == load_recipe("sst2-lstm").model.embed_dim
    assert events(root).Tags()["graph"]  # the packed sequence traces too


class Untraceable(nn.Module):
    def forward(self, x):
        return {"not": "a tensor"}


def test_a_graph_the_tracer_cannot_follow_is_one_warning_line(tmp_path, capsys):
    from torchlab.loggers import showing

    config = load_recipe("mnist-mlp", ["log.loggers=tensorboard"])
    assert showing(config, "graph") == [TensorBoardLogger] == showing(config, "embeddings")
    assert showing(load_recipe("mnist-mlp", ["log.loggers=none"]), "graph") == []
    TensorBoardLogger.log_graph(tmp_path, config, Untraceable(), (torch.rand(2, 3),))
    out, err = capsys.readouterr()
    assert out == ""  # not add_graph's own "Error occurs, No graph saved"
    (line,) = err.splitlines()
    assert line.startswith("torchlab: warning: no model graph in TensorBoard: tracing Untraceable failed (")
    assert not events(tmp_path / "tensorboard").Tags()["graph"]
