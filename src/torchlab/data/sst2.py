"""SST-2 (GLUE's binary sentiment of movie-review phrases) from `ROOT/SST-2/{train,dev}.tsv`.

GLUE's test labels are private, so dev.tsv (whole sentences) is the test set. train.tsv lists the
treebank's training sentences and every phrase of them; validation holds out a seeded
`data.val_split` of those sentences with all their phrases, so that, like the test, it measures
sentences the model has not seen, not even in parts. The vocabulary comes from the training part only.
"""

from dataclasses import dataclass
from pathlib import Path

import torch

from torchlab.config import DataConfig
from torchlab.core.errors import DataNotFound, TorchlabError
from torchlab.core.files import open_data
from torchlab.data import DATASETS
from torchlab.data.root import data_root, dataset_folder, fetch, missing_files
from torchlab.data.splits import split_indices
from torchlab.data.text import Labelled, TextClassification, TextConfig

FILES = ("train.tsv", "dev.tsv")
URL = "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"


@dataclass
class SST2Config(TextConfig):
    batch_size: int = 64
    val_split: int | float = 0.1


def read_tsv(path: Path) -> Labelled:
    """The sentences and labels of a GLUE tsv: header `sentence<TAB>label`, labels 0 or 1."""
    sentences, labels, lines = [], [], []
    try:
        with open_data(path, encoding="utf-8-sig") as f:  # -sig: a byte-order mark (Windows editors) is not text
            for number, line in enumerate(f, 1):
                fields = line.rstrip("\r\n").split("\t")
                if number == 1 and fields == ["sentence", "label"]:
                    continue
                if len(fields) != 2 or fields[1] not in ("0", "1"):
                    raise TorchlabError(f"{path}, line {number}: expected 'sentence<TAB>0|1', got {line[:60]!r}")
                sentences.append(fields[0])
                labels.append(int(fields[1]))
                lines.append(number)
    except UnicodeDecodeError as err:
        raise TorchlabError(f"{path} is not UTF-8 text ({err.reason})") from None
    if not sentences:
        raise TorchlabError(f"{path} holds no labelled sentence (an empty or header-only file)")
    return Labelled(path, sentences, labels, lines)


def sentence_of(phrases: list[str], max_words: int | None = None) -> list[int]:
    """For each phrase, the index of its sentence: the longest phrase that holds it as a run of words.

    The file does not say which sentence a phrase comes from. Taken longest first, a phrase that no
    earlier one holds starts a sentence, and every run of its words found among the phrases joins it
    (a run shared by several sentences stays with the first). A phrase listed twice goes with its first.
    Only the first `max_words` words of each phrase count.
    """
    texts = [" ".join(phrase.split()[:max_words]) for phrase in phrases]
    first: dict[str, int] = {}
    for i, text in enumerate(texts):
        first.setdefault(text, i)
    # A phrase held in another has at most the words of the second-longest: no run beyond them is one.
    reach = sorted((text.count(" ") + 1 for text in first), reverse=True)[1:2] or [1]
    sentence: dict[str, str] = {}
    for text in sorted(first, key=len, reverse=True):
        if text in sentence:
            continue
        sentence[text] = text
        words, at = [], 0
        for word in text.split(" "):
            words.append((at, at + len(word)))
            at += len(word) + 1
        for k, (start, _) in enumerate(words):
            for _, end in words[k : k + reach[0]]:
                part = text[start:end]
                if part in first and part not in sentence:
                    sentence[part] = text
    return [first[sentence[text]] for text in texts]


def sentence_split(phrases: list[str], cfg: SST2Config) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val) indices of the phrases: val, those of `val_split` of the sentences (or of fold
    `data.fold` of them, seeded by `data.split_seed`); train, those of the other sentences. Both sorted."""
    owner = torch.tensor(sentence_of(phrases, cfg.max_length))  # a word holds one token or more
    sentences = owner.unique()
    _, held = split_indices(len(sentences), cfg)
    in_val = torch.isin(owner, sentences[held])
    return (~in_val).nonzero().flatten(), in_val.nonzero().flatten()


def sst2_folder(cfg: DataConfig) -> Path:
    """ROOT/SST-2 holding train.tsv and dev.tsv, downloaded where allowed; else a TorchlabError."""
    root = data_root(cfg.root)
    folder = dataset_folder(root, "SST-2")

    def from_the_web(stage: Path) -> None:
        from torchvision.datasets.utils import download_and_extract_archive

        download_and_extract_archive(URL, str(stage))

    if why := fetch(root, folder, FILES, from_the_web, cfg.download):
        raise _missing(folder, missing_files(folder, FILES), why)
    return folder


def _missing(folder: Path, missing: list[str], why: str) -> DataNotFound:
    return DataNotFound(
        f"dataset not found in {folder}: missing {', '.join(missing)} ({why}); point "
        "--data-dir or TORCHLAB_DATA at a folder holding SST-2/train.tsv and SST-2/dev.tsv (GLUE's format)"
    )


@DATASETS.register("sst2", config=SST2Config)
def sst2(cfg: SST2Config, device: torch.device) -> TextClassification:
    folder = sst2_folder(cfg)
    train, dev = (read_tsv(folder / name) for name in FILES)

    def split(phrases: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            return sentence_split(phrases, cfg)
        except TorchlabError as err:
            raise TorchlabError(f"{train.path}: {err} (data.val_split holds out whole sentences)") from None

    return TextClassification(cfg, device, train, dev, ["negative", "positive"], split)
