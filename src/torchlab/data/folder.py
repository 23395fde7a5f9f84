"""A folder of images, one subfolder per class (`root/<class>/*.jpg`), as the notes' 实战 collects.

On first use every file is opened once; readable images go into a CSV index (path, label)
written beside them, and every unreadable or truncated file is reported by name and skipped.
Later runs reuse the index, so the seeded train/val/test split (60/20/20 by default) stays
the same. Images are converted to RGB (palette, alpha, grey, CMYK, first frame of an animated
GIF), resized (shorter side) and centre-cropped to `image_size`, augmented per sample on the
training split only, and normalised with ImageNet's statistics on the training device. Under
torchrun each rank loads its shard of every split (`data/workers.py: ShardSampler`).

A sample's augmentation depends on the epoch and the sample only: the sampler draws one seed per
epoch from the shuffling generator and hands it with each index, and the sample draws from a
generator seeded with both. Which worker loads it, and when, does not matter; so a run resumed
mid-epoch (`engine/bookmark.py` replays the epoch's order) sees the very batches it would have
seen, with any number of workers. The workers ignore SIGINT and SIGTERM, also when the whole
process group gets them: the training process alone decides how a run stops.
"""

import csv
import dataclasses
import hashlib
import io
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from torchlab.config import in_range, not_blank
from torchlab.core.errors import DataNotFound, TorchlabError
from torchlab.core.files import atomic_write_text, open_data, user_path
from torchlab.core.words import counted
from torchlab.data import DATASETS, DataInfo, info_without_files
from torchlab.data.augment import ImageDataConfig, TrainPreset, build_augment
from torchlab.data.loaders import Normalize
from torchlab.data.root import data_root, writes_allowed
from torchlab.data.splits import split_sizes
from torchlab.data.workers import MAX_WORKERS, DeviceBatches, Loaders, ShardSampler, worker_loader

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IMAGE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


@dataclass
class FolderConfig(ImageDataConfig):
    folder: str = ""  # FOLDER/<class>/<image>: a path, else a folder under the data root
    index: str | None = None  # the CSV index; default FOLDER/index.csv
    image_size: int = 224
    val_split: int | float = 0.2
    test_split: float = 0.2
    workers: int = 2  # DataLoader worker processes (0: load in the training process)

    def __post_init__(self) -> None:
        super().__post_init__()
        in_range("data", 1, image_size=self.image_size)
        in_range("data", 0, MAX_WORKERS, "[]", workers=self.workers)
        in_range("data", 0, 1, test_split=self.test_split)
        not_blank("data", index=self.index)


def load_rgb(path: Path) -> Image.Image:
    """The image at `path` (the first frame of an animation) in RGB; transparency is dropped."""
    with Image.open(path) as image:
        image.load()  # decodes the whole frame: a truncated file fails here, not mid-training
        if image.mode in ("P", "PA", "LA") or "transparency" in image.info:
            image = image.convert("RGBA")
        if image.mode.startswith(("I", "F")):  # 16- and 32-bit grey: PIL's convert would clip it to white
            image = eight_bit(np.asarray(image, dtype=np.float64), image.mode)
        return image.convert("RGB")


def fitted(image: Image.Image, height: int, width: int) -> torch.Tensor:
    """`image`'s pixels as uint8 `[C, height, width]`: scaled until it covers that size, then its centre
    (torchvision's Resize of the shorter side + CenterCrop, for a square)."""
    image = ImageOps.fit(image, (width, height), method=Image.Resampling.BILINEAR)
    pixels = torch.from_numpy(np.asarray(image).copy())
    return pixels.permute(2, 0, 1) if pixels.dim() == 3 else pixels[None]


def eight_bit(pixels: np.ndarray, mode: str) -> Image.Image:
    """Grey pixels of more than 8 bits as an 8-bit image: 16-bit by 65535, floats in [0, 1] by 1,
    anything else stretched from its lowest to its highest value."""
    low, high = float(pixels.min()), float(pixels.max())
    if mode.startswith("I;16") or (mode == "I" and low >= 0 and 255 < high <= 65535):
        scaled = pixels / 65535
    elif mode == "I" and low >= 0 and high <= 255:
        scaled = pixels / 255
    elif mode == "F" and low >= 0 and high <= 1:
        scaled = pixels
    else:
        scaled = (pixels - low) / (high - low or 1)
    return Image.fromarray((scaled * 255).round().astype(np.uint8), "L")


def scan(folder: Path) -> list[tuple[str, str]]:
    """(path relative to `folder`, class) for every readable image; warns about the rest by name (broken
    links, pipes and other entries that are no file included), and about a class folder left out for holding none."""
    if not folder.is_dir():
        raise DataNotFound(f"image folder not found: {folder} (expected {folder}/<class>/<image files>)")
    rows, skipped, left_out = [], [], []
    for class_dir in class_folders(folder):
        found = len(rows)
        for path in sorted(entries_under(class_dir)):
            if why := why_skipped(path):
                skipped.append(path)
                warnings.warn(f"skipped {path}: {why}", stacklevel=2)
            else:
                rows.append((path.relative_to(folder).as_posix(), class_dir.name))
        if len(rows) == found:  # empty, or unreadable: the walk passes over a folder it may not list
            left_out.append(class_dir)
    for class_dir in left_out if rows else ():  # with no image at all, the error below says it
        unreadable = "" if os.access(class_dir, os.R_OK | os.X_OK) else " (no permission to read it)"
        message = f"left out class '{class_dir.name}': {class_dir} holds no readable image{unreadable}"
        warnings.warn(message, stacklevel=2)
    if not rows:
        raise TorchlabError(
            f"no readable images in {folder}"
            + (f" ({counted(len(skipped), 'unreadable file')} skipped)" if skipped else "")
            + f": expected {folder}/<class>/<image files> (jpg, png, gif, bmp, webp...)"
        )
    return rows


def class_folders(folder: Path) -> list[Path]:
    """The class folders of `folder`, links to folders too; a broken link or a pipe beside them is named
    in a warning (a file is not: index.csv lives there)."""
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    for path in entries:
        if not path.is_dir() and not path.is_file():
            warnings.warn(f"skipped {path}: {why_skipped(path)}", stacklevel=3)
    return [p for p in entries if p.is_dir()]


def entries_under(folder: Path, above: frozenset[Path] = frozenset()) -> Iterator[Path]:
    """Every entry below `folder` but folders (hidden names left out), walking into links to folders as
    torchvision's ImageFolder does (`os.walk(followlinks=True)`); a link back to a folder on its way (a
    loop) is an entry, for `why_skipped` to name. A folder it may not list holds nothing."""
    above = above | {folder.resolve()}
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for path in entries:
        if path.is_dir() and path.resolve() not in above:
            yield from entries_under(path, above)
        elif not path.name.startswith("."):
            yield path


def why_skipped(path: Path) -> str:
    """Why the scan cannot take the entry `path` as an image, or '' (an image, or a folder it walks into)."""
    if path.is_symlink() and not path.exists():
        return f"a broken link (to {os.readlink(path)})"
    if path.is_dir():  # only a link back to a folder that holds it: `entries_under` walks into the others
        return f"a link to {path.resolve()}, a folder that holds it (a loop)"
    if not path.is_file():
        return "not a regular file (a pipe, socket or device)"
    try:
        load_rgb(path)
    except IMAGE_ERRORS as err:
        return f"not a readable image ({err})"
    return ""


def read_index(index: Path, folder: Path) -> list[tuple[str, str]]:
    with open_data(index, "the image index ", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0] != ["path", "label"] or any(len(r) != 2 for r in rows[1:]) or len(rows) < 2:
        raise TorchlabError(f"{index} is not an image index (a CSV with columns path,label); delete it to rebuild")
    missing = [path for path, _ in rows[1:] if not (folder / path).is_file()]
    if missing:
        shown = ", ".join(str(folder / p) for p in missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise TorchlabError(
            f"{index} names {counted(len(missing), 'missing file')} ({shown}); delete the index to rebuild it"
        )
    listed = {label for _, label in rows[1:]}
    folders = (p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if added := sorted(set(folders) - listed):  # the index keeps the splits stable, and a later class out
        message = f"{index} lists no image of the class folders {added}: delete it to scan the folder again"
        warnings.warn(message, stacklevel=2)
    return [(path, label) for path, label in rows[1:]]


def write_index(index: Path, rows: list[tuple[str, str]]) -> None:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([("path", "label"), *rows])
    try:
        atomic_write_text(index, text.getvalue())
    except TorchlabError as err:  # a read-only image folder, say: the index can live elsewhere
        raise TorchlabError(f"{err}; set data.index to a writable path for the image index") from None


def size_of(path: Path) -> int:
    """The file's size in bytes; -1 when it is gone (loading it says so)."""
    try:
        return path.stat().st_size
    except OSError:
        return -1


class ImageFiles(Dataset):
    """(uint8 [3, size, size], label) per file, loaded and optionally augmented per sample."""

    def __init__(self, paths: list[Path], labels: list[int], size: int, augment: TrainPreset | None = None) -> None:
        self.paths, self.labels, self.size, self.augment = paths, labels, size, augment

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        """`item`: an index, or (index, the epoch's seed) from a seeding `ShardSampler`."""
        i, seed = item if isinstance(item, tuple) else (item, None)
        try:
            image = load_rgb(self.paths[i])
        except IMAGE_ERRORS as err:
            raise TorchlabError(f"{self.paths[i]} became unreadable after indexing ({err})") from None
        x = fitted(image, self.size, self.size)
        if self.augment:  # the sample's own draws: the same in any worker, at any time
            x = self.augment(x, torch.Generator().manual_seed(seed + i) if seed is not None else None)
        return x, self.labels[i]


class ImageFolderData:
    def __init__(self, cfg: FolderConfig, device: torch.device) -> None:
        if not cfg.folder:
            raise DataNotFound("data.folder is not set: point it at a folder of <class>/<image> files")
        folder = user_path(cfg.folder)
        if not folder.is_dir():
            folder = data_root(cfg.root) / folder
        index = Path(cfg.index) if cfg.index else folder / "index.csv"
        try:
            indexed = index.is_file()
            rows = read_index(index, folder) if indexed else scan(folder)
        except PermissionError as err:
            raise TorchlabError(f"cannot read the image folder {folder}: {err.strerror} ({err.filename})") from None
        classes = sorted({label for _, label in rows})
        if len(classes) < 2:
            where = f"{index} lists (delete it to scan the folder again)" if indexed else f"{folder} holds"
            raise TorchlabError(
                f"a classifier needs 2 classes or more; {where} only {classes}: expected "
                f"{folder}/<class>/<image files>, one folder per class"
            )
        if not indexed and writes_allowed():
            write_index(index, rows)
        paths = [folder / path for path, _ in rows]
        labels = [classes.index(label) for _, label in rows]
        self.cfg, self.device, self.folder = cfg, device, folder
        self.normalize = Normalize(IMAGENET_MEAN, IMAGENET_STD, device)
        self.info = dataclasses.replace(image_folder_info(cfg), num_classes=len(classes), class_names=classes)
        splits = self._split(len(rows))
        limits = (cfg.subset, cfg.eval_subset, cfg.eval_subset)
        subsets = [split[:limit] for split, limit in zip(splits, limits, strict=True)]
        augment = build_augment(cfg.augment)
        self.datasets = [
            ImageFiles([paths[i] for i in idx], [labels[i] for i in idx], cfg.image_size, augment if k == 0 else None)
            for k, idx in enumerate(subsets)
        ]
        self.train_size = len(self.datasets[0])
        self._loaders = Loaders()

    def contents(self) -> dict[str, str | list[str]]:
        """A digest of each split's files (path in the folder, size, label), and the class names."""

        def listing(files: ImageFiles) -> str:
            pairs = zip(files.paths, files.labels, strict=True)
            rows = (f"{path.relative_to(self.folder).as_posix()}\t{size_of(path)}\t{label}" for path, label in pairs)
            return hashlib.sha256("\n".join(rows).encode()).hexdigest()

        digests = {split: listing(files) for split, files in zip(("train", "val", "test"), self.datasets, strict=True)}
        return digests | {"classes": self.info.class_names or []}

    def _split(self, n: int) -> list[list[int]]:
        """Seeded train/val/test indices; the index file's order keeps them stable across runs."""
        _, n_test = split_sizes(n, self.cfg.test_split)
        _, n_val = split_sizes(n, self.cfg.val_split)
        if n - n_val - n_test < 1:
            raise TorchlabError(
                f"data.val_split and data.test_split leave none of the {counted(n, 'image')} for training"
            )
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.cfg.split_seed)).tolist()
        return [order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test]]

    def _loader(self, key: object, split: int, batch_size: int, generator: torch.Generator | None) -> DeviceBatches:
        def build() -> DeviceBatches:
            sampler = ShardSampler(len(self.datasets[split]), generator, seeds=True)
            loader = worker_loader(self.datasets[split], batch_size, sampler, self.cfg.workers, self.device)
            return DeviceBatches(loader, self.device, self.normalize)

        return self._loaders.get(key, build)

    def close(self) -> None:
        self._loaders.close()

    def train_loader(self, generator: torch.Generator) -> DeviceBatches:
        return self._loader(generator, 0, self.cfg.batch_size, generator)

    def val_loader(self) -> DeviceBatches:
        return self._loader("val", 1, self.cfg.eval_batch_size, None)

    def test_loader(self) -> DeviceBatches:
        return self._loader("test", 2, self.cfg.eval_batch_size, None)


@DATASETS.register("folder", config=FolderConfig)
def image_folder(cfg: FolderConfig, device: torch.device) -> ImageFolderData:
    return ImageFolderData(cfg, device)


@info_without_files("folder")
def image_folder_info(cfg: FolderConfig) -> DataInfo:
    """RGB images of `image_size`; the classes are the folder's, unknown until it is read."""
    return DataInfo((3, cfg.image_size, cfg.image_size), normalization=(IMAGENET_MEAN, IMAGENET_STD))
