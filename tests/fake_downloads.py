"""Downloads without a network, for tests/test_downloads.py: the files a source would serve, made by
the test, written slowly from local bytes by a stand-in for what each dataset calls (torchvision's
MNIST and CIFAR10 classes, its download_and_extract_archive, torch.hub's urlopen), in this process
or a forked child (`child`)."""

import email.message
import hashlib
import io
import os
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.hub
import torchvision.datasets
import torchvision.datasets.utils
import torchvision.models  # noqa: F401 (imagenet_weights imports it: here, once, not in each forked child)

from tests.test_corrupt_data import idx_bytes
from torchlab.config import DataConfig
from torchlab.data import sst2
from torchlab.data.cifar import load_cifar10
from torchlab.data.mnist import load_idx_dataset
from torchlab.data.sst2 import read_tsv, sst2_folder
from torchlab.models.resnet18 import imagenet_weights

SOURCES = ("mnist", "cifar10", "sst2", "weights")
DOWNLOAD_SECONDS = 1.0  # long enough for a second process to arrive while the first downloads
CHUNKS = 4  # each file is written in this many parts
WEIGHTS = "resnet18-f37072fd.pth"  # the name torch.hub saves torchvision's ImageNet weights under


def served(source: str) -> dict[str, bytes]:
    """The files `source` serves, by their path under the data root (under torch's hub dir: weights)."""
    g = torch.Generator().manual_seed(0)
    if source == "mnist":
        return {
            f"MNIST/raw/{split}-{kind}": idx_bytes(torch.randint(0, high, shape, dtype=torch.uint8, generator=g))
            for split, n in (("train", 30), ("t10k", 10))
            for kind, high, shape in (("images-idx3-ubyte", 256, (n, 28, 28)), ("labels-idx1-ubyte", 10, (n,)))
        }
    if source == "cifar10":
        batches = {
            name: {"data": np.full((6, 3072), i, dtype=np.uint8), "labels": [i % 10] * 6}
            for i, name in enumerate([*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"])
        }
        batches["batches.meta"] = {"label_names": [f"class {i}" for i in range(10)]}
        return {f"cifar-10-batches-py/{name}": pickle.dumps(batch) for name, batch in batches.items()}
    if source == "sst2":
        lines = "".join(f"a {'good' if i % 2 else 'bad'} film number {i}\t{i % 2}\n" for i in range(40))
        return {"SST-2/train.tsv": f"sentence\tlabel\n{lines}".encode(), "SST-2/dev.tsv": b"sentence\tlabel\nfine\t1\n"}
    buffer = io.BytesIO()
    torch.save({"conv1.weight": torch.randn(64, 3, 7, 7, generator=g)}, buffer)
    return {f"checkpoints/{WEIGHTS}": buffer.getvalue()}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_slowly(data: bytes, write: Callable[[bytes], Any], pause: float, hang: Path | None) -> None:
    """`data` written in CHUNKS parts, `pause` seconds apart; with `hang`, the process touches that
    file after the first part and stops there, to be killed mid-download."""
    step = -(-len(data) // CHUNKS)
    for start in range(0, len(data), step):
        write(data[start : start + step])
        if hang:
            hang.touch()
            time.sleep(600)
        time.sleep(pause)


def install(source: str, log: Path, hang: Path | None = None, patch: Callable[..., None] = setattr) -> None:
    """Put the stand-in downloader of `source` in place with `patch` (setattr, or pytest's monkeypatch.setattr);
    each file it downloads adds a line to `log`."""
    files = served(source)
    pause = DOWNLOAD_SECONDS / (CHUNKS * len(files))

    def note(name: str) -> None:
        with open(log, "a") as f:  # O_APPEND: the lines of two processes do not mix
            f.write(f"{os.getpid()} {name}\n")

    if source == "weights":
        install_weights_server(files[f"checkpoints/{WEIGHTS}"], note, pause, hang, patch)
        return

    def download(root: str, *args: Any, **kwargs: Any) -> None:
        """As torchvision does: each file written in place, where it is not there already."""
        for name, data in files.items():
            path = Path(root, name)
            if not path.exists():
                note(name)
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "wb") as f:
                    write_slowly(data, lambda part, f=f: (f.write(part), f.flush()), pause, hang)

    if source == "sst2":  # download_and_extract_archive(url, root)
        patch(torchvision.datasets.utils, "download_and_extract_archive", lambda url, root, **kwargs: download(root))
    else:  # MNIST(root, train, download), CIFAR10(root, train, download)
        patch(torchvision.datasets, {"mnist": "MNIST", "cifar10": "CIFAR10"}[source], download)


def install_weights_server(
    data: bytes, note: Callable[[str], None], pause: float, hang: Path | None, patch: Callable[..., None]
) -> None:
    """torch.hub's own download (a temporary file renamed when whole), from a stand-in of urlopen;
    its hash check is off (the made-up weights are not torchvision's)."""

    class Response(io.BytesIO):
        def info(self) -> email.message.Message:
            headers = email.message.Message()
            headers["Content-Length"] = str(len(data))
            return headers

        def read(self, size: int | None = -1) -> bytes:
            time.sleep(pause)
            if hang and self.tell():
                hang.touch()
                time.sleep(600)
            return super().read(-(-len(data) // CHUNKS))

    def urlopen(request: Any, *args: Any, **kwargs: Any) -> Response:
        note(f"checkpoints/{WEIGHTS}")
        return Response(data)

    download = torch.hub.download_url_to_file
    patch(torch.hub, "urlopen", urlopen)
    patch(
        torch.hub,
        "download_url_to_file",
        lambda url, dst, hash_prefix=None, progress=True: download(url, dst, None, False),
    )


def load(source: str, root: Path) -> None:
    """Read `source` from the data root `root` (weights: from torch's hub dir) as torchlab does, downloading
    it where absent."""
    if source == "mnist":
        load_idx_dataset("MNIST", DataConfig(root=str(root)))
    elif source == "cifar10":
        load_cifar10(root, True)
    elif source == "sst2":
        folder = sst2_folder(DataConfig(root=str(root)))
        for name in sst2.FILES:
            read_tsv(folder / name)
    else:
        imagenet_weights()


def child(data: Path, log: Path, sources: tuple[str, ...], said: Path, hang: Path | None = None) -> None:
    """A forked process's work: install the stand-ins (logging to `log`), then load each of `sources`
    from the data root `data` (weights: from $TORCH_HOME); "loaded SOURCE" and all it says go to `said`."""
    with open(said, "w") as sys.stdout:
        sys.stderr = sys.stdout
        for source in sources:
            install(source, log, hang)
        for source in sources:
            load(source, data)
            print(f"loaded {source}", flush=True)
