"""Transfer learning (the notes' 实战 Step4): torchvision's resnet18 with a new head.

Every layer of resnet18 up to its global average pool is the backbone (`[b, 512]`); the head
is Linear(512, classes). `weights` starts the backbone from ImageNet (torchvision's weights
API, `ResNet18_Weights.IMAGENET1K_V1`; the notes' `pretrained=True` is deprecated), from a
local file, or from scratch. A frozen backbone also keeps its BatchNorm statistics: it stays
in eval mode while the head trains.
"""

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn

from torchlab.config import ModelConfig, not_blank
from torchlab.core.checkpoint import FORMAT, load_weights_only
from torchlab.core.errors import TorchlabError
from torchlab.core.files import user_path
from torchlab.data import DataInfo
from torchlab.data.root import downloads_allowed, fetching, remove_dead
from torchlab.models import MODELS, weights_follow

StateDict = dict[str, torch.Tensor]


class TransferResNet18(nn.Module):
    def __init__(self, num_classes: int, freeze_backbone: bool = False) -> None:
        super().__init__()
        from torchvision.models import resnet18  # imported here: every run loads this module

        self.backbone = resnet18()
        self.backbone.fc = nn.Identity()  # keeps torchvision's parameter names: conv1.weight, layer1...
        self.head = nn.Linear(512, num_classes)
        self.freeze_backbone = freeze_backbone
        self.backbone.requires_grad_(not freeze_backbone)

    def train(self, mode: bool = True) -> "TransferResNet18":
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def imagenet_weights() -> StateDict:
    """torchvision's ImageNet weights: from torch's hub cache, else downloaded where allowed, by one
    process at a time (`fetching`; torch.hub writes a temporary file that it renames when whole)."""
    from torchvision.models import ResNet18_Weights

    weights = ResNet18_Weights.IMAGENET1K_V1
    load = partial(weights.get_state_dict, progress=False, check_hash=True, weights_only=True)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    instead = f"put {cached.name} in {cached.parent}, or set model.weights to a local file or none"
    partials = partial(partial_downloads, cached)
    if partials() or cached.with_name(f".{cached.name}.lock").exists():  # a download killed: weights cached since
        remove_dead(cached.parent, cached.name, partials)  # (or put there by hand) are never fetched again
    if not cached.is_file() and not downloads_allowed(True):
        raise TorchlabError(f"ImageNet weights for resnet18 are not cached and downloads are off: {instead}")
    try:
        if cached.is_file():
            return load()
        with fetching(cached.parent, cached.name):
            for unfinished in partials():  # of a process that died since the removal above
                unfinished.unlink(missing_ok=True)
            return load()
    except Exception as err:  # any network or disk failure
        raise TorchlabError(f"could not get ImageNet weights from {weights.url} ({err}): {instead}") from None


def partial_downloads(cached: Path) -> list[Path]:
    """torch.hub's temporary files of a download of `cached` (it renames one into place when whole)."""
    return list(cached.parent.glob(f"{cached.name}.*.partial"))


def file_weights(path: Path) -> StateDict:
    """The backbone of a torchlab checkpoint of this model, or a torchvision resnet18 state dict."""
    state = load_weights_only(path)
    if isinstance(state, dict) and state.get("format") == FORMAT:
        prefix = "backbone."
        return {k.removeprefix(prefix): v for k, v in state["model"].items() if k.startswith(prefix)}
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TorchlabError(f"{path} is neither a torchlab checkpoint nor a state dict of tensors")
    return state


def load_backbone(model: TransferResNet18, weights: str) -> None:
    if weights == "imagenet":
        state, source = imagenet_weights(), "ImageNet weights"
    else:
        state, source = file_weights(user_path(weights)), weights
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}  # the old head is replaced
    try:
        model.backbone.load_state_dict(state)
    except RuntimeError as err:
        detail = str(err).strip().splitlines()[0]
        raise TorchlabError(f"{source} hold no resnet18 backbone: {detail}") from None


@dataclass
class ResNet18Config(ModelConfig):
    weights: str = "imagenet"  # imagenet | none | a path to a torchlab best.pt or a torchvision state dict
    freeze_backbone: bool = False  # train the head only

    def __post_init__(self) -> None:
        not_blank("model", weights=self.weights)


@MODELS.register("resnet18", config=ResNet18Config, tasks=("classify",))
def build_resnet18(cfg: ResNet18Config, info: DataInfo) -> TransferResNet18:
    if info.input_shape[0] != 3:
        raise TorchlabError(f"resnet18 takes RGB images (3 channels), got {info.input_shape[0]}")
    model = TransferResNet18(info.num_classes, cfg.freeze_backbone)
    if cfg.weights != "none" and not weights_follow():
        load_backbone(model, cfg.weights)
    return model
