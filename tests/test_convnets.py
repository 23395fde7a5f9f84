"""The notes' convolution layers, LeNet-5, the corrected ResBlk and ResNet, batched augmentation."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.conftest import DATA
from torchlab.cli import main
from torchlab.config import build_config
from torchlab.core.errors import TorchlabError
from torchlab.data import DataInfo
from torchlab.data.augment import TrainPreset
from torchlab.data.memory import InMemoryImages
from torchlab.models import build_model
from torchlab.models.densenet import transition
from torchlab.models.layers import Flatten, MyLinear
from torchlab.models.resblk import ResBlk
from torchlab.tasks import build_task


def test_conv_pool_and_upsample_shapes():
    x = torch.randn(4, 1, 28, 28)
    assert nn.Conv2d(1, 3, kernel_size=3, stride=1, padding=0)(x).shape == (4, 3, 26, 26)
    assert nn.Conv2d(1, 3, kernel_size=3, stride=2, padding=1)(x).shape == (4, 3, 14, 14)
    assert nn.MaxPool2d(2, stride=2)(x).shape == F.avg_pool2d(x, 2, stride=2).shape == (4, 1, 14, 14)
    window = torch.tensor([[[[1.0, 2.0], [3.0, 6.0]]]])
    assert nn.MaxPool2d(2)(window).item() == 6.0 and nn.AvgPool2d(2)(window).item() == 3.0
    up = F.interpolate(window, scale_factor=2, mode="nearest")  # each pixel becomes a 2x2 block
    assert up.shape == (1, 1, 4, 4) and torch.equal(up[0, 0, :2, :2], torch.ones(2, 2))


@pytest.mark.parametrize("bn", [nn.BatchNorm1d(16), nn.BatchNorm2d(16)])
def test_batchnorm_running_statistics_change_in_train_mode_only(bn):
    x = torch.rand(100, 16, 784) * 3 + 2 if isinstance(bn, nn.BatchNorm1d) else torch.rand(8, 16, 7, 7) * 3 + 2
    bn.eval()
    out = bn(x)
    assert torch.equal(bn.running_mean, torch.zeros(16)) and torch.equal(bn.running_var, torch.ones(16))
    assert torch.allclose(out, x / (1 + bn.eps) ** 0.5)  # eval normalises with the running statistics
    bn.train()
    out = bn(x)
    assert (bn.running_mean > 0.1).all() and bn.num_batches_tracked == 1
    assert out.mean().abs() < 1e-4  # train normalises with the batch's own statistics
    mean = bn.running_mean.clone()
    bn.eval()
    bn(x)
    assert torch.equal(bn.running_mean, mean)


def test_flatten_and_mylinear_match_torch():
    x = torch.randn(5, 16, 3, 3)
    assert torch.equal(Flatten()(x), nn.Flatten()(x))
    mine, ref = MyLinear(144, 10), nn.Linear(144, 10)
    ref.weight.data, ref.bias.data = mine.w.data, mine.b.data
    assert torch.allclose(mine(Flatten()(x)), ref(Flatten()(x)))
    assert {name for name, _ in mine.named_parameters()} == {"w", "b"}


def test_resblk_projects_when_channels_or_stride_change():
    assert len(ResBlk(16, 16).extra) == 0  # identity shortcut
    assert ResBlk(16, 32)(torch.randn(2, 16, 8, 8)).shape == (2, 32, 8, 8)
    strided = ResBlk(16, 16, stride=2)  # same channels: the notes' block would fail to add
    assert len(strided.extra) == 2 and strided(torch.randn(2, 16, 8, 8)).shape == (2, 16, 4, 4)


def test_densenet_transition_pools_first_with_the_papers_output():
    """Pooling before the 1x1 convolution is the same map as the paper's convolve-then-pool, on fewer pixels."""
    torch.manual_seed(0)
    layers = transition(48, 24)
    norm, relu, pool, conv = layers
    assert isinstance(pool, nn.AvgPool2d) and conv.kernel_size == (1, 1)
    x = torch.randn(4, 48, 14, 14)
    papers = pool(conv(relu(norm(x))))
    assert papers.shape == (4, 24, 7, 7) and torch.allclose(layers(x), papers, atol=1e-5)


def test_densenet_strided_stem_halves_the_image_before_the_first_block():
    densenet = {"name": "densenet", "blocks": [1, 1], "growth": 4, "stem": 8, "stem_stride": 2, "stem_pool": False}
    net = build_model(build_config({"model": densenet}).model, DataInfo((1, 28, 28), 10))
    stem, first_block = net.features[0], net.features[1]
    assert isinstance(first_block, nn.Sequential) and stem(torch.randn(2, 1, 28, 28)).shape == (2, 8, 14, 14)
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(TorchlabError, match="below 1"):  # 8 -> 4 (stride) -> 2 (pool) -> 1 -> 0
        build_model(
            build_config({"model": {**densenet, "blocks": [1, 1, 1, 1], "stem_pool": True}}).model,
            DataInfo((1, 8, 8), 10),
        )


def test_tta_flip_gives_an_image_and_its_mirror_the_same_logits():
    info = DataInfo((1, 28, 28), 10)
    model = build_model(build_config({"model": {"name": "lenet5"}}).model, info).eval()
    x = torch.randn(8, 1, 28, 28)
    for flip in (False, True):
        task = build_task(build_config({"task": {"name": "classify", "tta_flip": flip}}).task, model, info)
        mirrored_alike = torch.allclose(task.logits(model, x), task.logits(model, x.flip(-1)), atol=1e-6)
        assert mirrored_alike == flip
        assert torch.equal(task.predict(x), task.logits(model, x).argmax(1))
        preview = task.preview((x, torch.zeros(8, dtype=torch.long)), 8).text
        previewed = [row.split()[0] for row in preview.splitlines()[1:]]
        assert previewed == [str(c) for c in task.predict(x).tolist()]  # the loggers show what predict gives
    with pytest.raises(TorchlabError, match="mirrors images"):
        build_task(build_config({"task": {"name": "classify", "tta_flip": True}}).task, model, DataInfo((50,), 2))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize(
    "model", [{"name": "lenet5"}, {"name": "lenet5", "activation": "relu", "pool": "max"}, {"name": "resnet"}]
)
def test_models_take_28_and_32_pixel_images(model, shape):
    if model["name"] == "resnet":
        model = {**model, "widths": [8, 16], "blocks": [1, 1], "stem_pool": True}
    net = build_model(build_config({"model": model}).model, DataInfo(shape, 10))
    assert net(torch.randn(2, *shape)).shape == (2, 10)


def test_bad_model_shapes_are_clear_errors():
    with pytest.raises(TorchlabError, match="at least 12x12"):
        build_model(build_config({"model": {"name": "lenet5"}}).model, DataInfo((1, 8, 8), 10))
    with pytest.raises(TorchlabError, match="one length"):
        build_model(build_config({"model": {"name": "resnet", "blocks": [1]}}).model, DataInfo((1, 28, 28), 10))


def batch(n=64, size=12) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)


@pytest.mark.parametrize(
    "options",
    [
        {"hflip": 0.5},
        {"vflip": 0.5},
        {"right_angles": True},
        {"rotation": 15.0},
        {"scale": 0.2},
        {"crop_padding": 2},
        {"noise_std": 0.05},
        {"hflip": 0.5, "right_angles": True, "rotation": 15.0, "scale": 0.1, "crop_padding": 2, "noise_std": 0.05},
    ],
)
def test_augmentation_keeps_shape_and_dtype_and_draws_per_image(options):
    x = batch()
    out = TrainPreset(**options)(x)
    assert out.shape == x.shape and out.dtype == torch.uint8
    changed = (out != x).flatten(1).any(1)
    assert 0 < changed.sum() <= len(x)
    if "noise_std" not in options and "rotation" not in options and "scale" not in options:
        assert not changed.all() or "right_angles" in options or "crop_padding" in options
    single = TrainPreset(**options)(x[0])
    assert single.shape == x[0].shape and single.dtype == torch.uint8


def test_flips_are_exact_and_some_images_stay():
    x = batch(200)
    out = TrainPreset(hflip=0.5)(x)
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    assert ((out == x).flatten(1).all(1) | flipped).all()
    assert 50 < flipped.sum() < 150  # each image decides on its own


def test_right_angles_turn_every_image_by_90_180_or_270():
    x = batch(300)
    out = TrainPreset(right_angles=True)(x)
    turns = torch.stack([(out == torch.rot90(x, k, dims=(-2, -1))).flatten(1).all(1) for k in (0, 1, 2, 3)], 1)
    assert not turns[:, 0].any() and turns[:, 1:].any(1).all()
    assert (turns[:, 1:].sum(0) > 50).all()  # all three angles occur


def test_crop_shifts_each_image_inside_its_padding():
    x = torch.zeros(100, 1, 8, 8, dtype=torch.uint8)
    x[:, :, 4, 4] = 255
    out = TrainPreset(crop_padding=2)(x)
    rows, cols = (out[:, 0] == 255).nonzero()[:, 1], (out[:, 0] == 255).nonzero()[:, 2]
    assert rows.min() >= 2 and rows.max() <= 6 and cols.min() >= 2 and cols.max() <= 6
    assert len({(r.item(), c.item()) for r, c in zip(rows, cols, strict=True)}) > 10


def test_augmentation_runs_on_the_training_split_only():
    images, labels = batch(40, 8), torch.randint(0, 10, (40,))
    cfg = build_config({"data": {"name": "mnist", "val_split": 10, "batch_size": 40}}).data
    preset = TrainPreset(hflip=1.0)
    data = InMemoryImages(
        cfg, torch.device("cpu"), (images, labels), (images, labels), mean=(0.0,), std=(1.0,),
        class_names=[str(i) for i in range(10)], train_transform=preset,
    )  # fmt: skip
    train_x, _ = next(iter(data.train_loader(torch.Generator().manual_seed(0))))
    (val_x, _), (test_x, _) = next(iter(data.val_loader())), next(iter(data.test_loader()))
    assert torch.allclose(val_x, data.val_images / 255) and torch.allclose(test_x, images / 255)
    assert sorted(map(tuple, (train_x * 255).round().flatten(1).tolist())) == sorted(
        map(tuple, data.train_images.flip(-1).float().flatten(1).tolist())
    )


def test_augment_config_is_checked():
    cfg = build_config({"data": {"name": "fashion-mnist", "augment": {"hflip": 0.5, "crop_padding": 2}}}).data
    assert cfg.augment.hflip == 0.5 and cfg.augment.crop_padding == 2
    with pytest.raises(TorchlabError, match="unknown config key 'data.augment.flip'"):
        build_config({"data": {"name": "fashion-mnist", "augment": {"flip": 0.5}}})
    with pytest.raises(TorchlabError, match="probability"):
        TrainPreset(hflip=2.0)


@pytest.mark.slow
@pytest.mark.parametrize(("recipe", "floor"), [("fashion-lenet5", 0.55), ("fashion-resnet", 0.3)])
def test_fashion_recipes_learn(recipe, floor, tmp_path):
    if not (DATA / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        pytest.fail(f"real Fashion-MNIST expected under {DATA}/FashionMNIST/raw")
    out = tmp_path / recipe
    quick = ["--logger", "none", "data.subset=5000", "data.eval_subset=1000", "train.epochs=1"]
    assert main(["train", recipe, "--out", str(out), *quick]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test"]["accuracy"] >= floor  # chance is 0.10


@pytest.mark.slow
def test_fashion_resnet_trains_and_resumes_on_every_sample_when_one_is_left_alone_in_the_last_batch(tmp_path, recwarn):
    """Before: its BatchNorm left out each epoch's lone last sample (129 in batches of 64), with a warning
    that it could not train on it; its BatchNorm2d layers see maps of 28x28 to 4x4 and train on one sample."""
    if not (DATA / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        pytest.fail(f"real Fashion-MNIST expected under {DATA}/FashionMNIST/raw")
    quick = ["--logger", "none", "data.subset=129", "data.batch_size=64", "data.eval_subset=64", "train.epochs=1"]
    quick += ["schedule.name=none"]  # a cosine schedule is planned over train.epochs: no resume to more
    assert main(["train", "fashion-resnet", "--out", str(tmp_path / "run"), *quick]) == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["train_samples"] == 129
    assert main(["resume", str(tmp_path / "run"), "--epochs", "2"]) == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["train_samples"] == 2 * 129
    assert not [w for w in recwarn if "alone" in str(w.message)]
