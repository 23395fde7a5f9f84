"""Small image datasets held whole in memory as uint8 tensors on the training device."""

import torch

from torchlab.config import DataConfig
from torchlab.data import DataInfo
from torchlab.data.loaders import Normalize, TensorLoader, Transform
from torchlab.data.splits import describe_split, digest_contents, split_indices


class InMemoryImages:
    """Train/val/test splits of uint8 images `[N, C, H, W]`, normalised batch by batch; `uncropped`: their
    (H, W) before the centre was cut from them (DataInfo's)."""

    def __init__(
        self,
        cfg: DataConfig,
        device: torch.device,
        train: tuple[torch.Tensor, torch.Tensor],
        test: tuple[torch.Tensor, torch.Tensor],
        *,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        class_names: list[str],
        train_transform: Transform | None = None,
        uncropped: tuple[int, int] | None = None,
    ) -> None:
        (images, labels), (test_images, test_labels) = train, test
        train_idx, val_idx = split_indices(len(images), cfg)
        train_idx, val_idx = train_idx[: cfg.subset], val_idx[: cfg.eval_subset]
        self.split = describe_split(train_idx, val_idx)
        self.cfg = cfg
        self.normalize = Normalize(mean, std, device)
        self.train_transform = train_transform  # augmentation, before normalisation
        self.train_images, self.train_labels = images[train_idx].to(device), labels[train_idx].to(device)
        self.val_images, self.val_labels = images[val_idx].to(device), labels[val_idx].to(device)
        self.test_images = test_images[: cfg.eval_subset].to(device)
        self.test_labels = test_labels[: cfg.eval_subset].to(device)
        shape, normalization = tuple(images.shape[1:]), (mean, std)
        self.info = DataInfo(shape, len(class_names), class_names, normalization=normalization, uncropped=uncropped)
        self.train_size = len(self.train_images)

    def contents(self) -> dict[str, str | list[str]]:
        splits = {
            "train": (self.train_images, self.train_labels),
            "val": (self.val_images, self.val_labels),
            "test": (self.test_images, self.test_labels),
        }
        return digest_contents(splits, self.info.class_names or [])

    def _augment_and_normalize(self, images: torch.Tensor) -> torch.Tensor:
        return self.normalize(self.train_transform(images) if self.train_transform else images)

    def train_loader(self, generator: torch.Generator) -> TensorLoader:
        return TensorLoader(
            self.train_images,
            self.train_labels,
            self.cfg.batch_size,
            transform=self._augment_and_normalize,
            generator=generator,
        )

    def val_loader(self) -> TensorLoader:
        return TensorLoader(self.val_images, self.val_labels, self.cfg.eval_batch_size, transform=self.normalize)

    def test_loader(self) -> TensorLoader:
        return TensorLoader(self.test_images, self.test_labels, self.cfg.eval_batch_size, transform=self.normalize)
