"""IDX files (MNIST's format), read strictly: a damaged or wrong file is a TorchlabError naming it.

An IDX file is a magic number (two zero bytes, a type code, the number of dimensions), one
big-endian uint32 per dimension, then exactly that many values. torchlab reads unsigned bytes.
"""

import math
import struct
from pathlib import Path

import torch

from torchlab.core.errors import TorchlabError
from torchlab.core.files import read_data_bytes
from torchlab.core.words import counted

UNSIGNED_BYTE = 0x08


def read_idx(path: Path, ndim: int) -> torch.Tensor:
    """The uint8 tensor in `path`, which must be an IDX file of `ndim` dimensions and no more bytes."""
    data = read_data_bytes(path)
    magic = data[:4]
    if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] != UNSIGNED_BYTE or magic[3] != ndim:
        expected = bytes([0, 0, UNSIGNED_BYTE, ndim]).hex()
        raise TorchlabError(
            f"{path} is not an IDX file of {ndim}-d bytes: its magic number is {magic.hex() or 'missing'}, "
            f"expected {expected} (a wrong or damaged file: delete it and download again)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise TorchlabError(f"{path} is truncated: {len(data)} bytes, shorter than its header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    size = header + math.prod(shape)
    if len(data) != size:
        what = "truncated" if len(data) < size else "longer than its header says"
        raise TorchlabError(f"{path} is {what}: {len(data)} bytes, its header {list(shape)} means {size}")
    if 0 in shape:
        raise TorchlabError(f"{path} holds no data: its header gives the shape {list(shape)}")
    return torch.frombuffer(bytearray(data), dtype=torch.uint8, offset=header).view(shape)


def read_idx_pair(images_path: Path, labels_path: Path, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images `[N, 1, H, W]` uint8 and labels `[N]` int64 from two IDX files that must agree."""
    images, labels = read_idx(images_path, 3), read_idx(labels_path, 1)
    if len(images) != len(labels):
        raise TorchlabError(
            f"{images_path} holds {counted(len(images), 'image')} "
            f"but {labels_path} holds {counted(len(labels), 'label')}"
        )
    bad = (labels >= num_classes).nonzero()
    if len(bad):
        i = int(bad[0])
        raise TorchlabError(f"{labels_path}: label {int(labels[i])} at index {i} is not a class (0..{num_classes - 1})")
    return images.unsqueeze(1), labels.long()
