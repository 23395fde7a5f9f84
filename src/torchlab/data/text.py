"""Text as token ids: a tokenizer, a vocabulary with <pad> and <unk>, and padding-aware batches.

A batch is `(tokens [B, L], lengths [B], labels [B])`, padded with id 0 only up to the longest
sentence of that batch; models pack the sequences by `lengths`, so padding never changes a result.
Training batches hold sentences of similar length (as torchtext's BucketIterator did): an LSTM
steps through a batch for as long as its longest sentence, so mixed lengths cost steps.
A sentence keeps its first `data.max_length` tokens (256 by default, as tokenizers' `max_length`
truncation does): one absurdly long line would otherwise pad every sentence to its length.
Validation and test batches also carry their sentences as the file wrote them (`SentenceBatch.texts`,
references to the strings read once), for what the report and the live previews show.
"""

import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from torchlab.config import DataConfig, in_range
from torchlab.core.distributed import shard
from torchlab.core.errors import TorchlabError
from torchlab.core.runtime import available_memory
from torchlab.core.words import counted
from torchlab.data import Batch, DataInfo
from torchlab.data.splits import describe_split, digest_contents, split_indices

PAD, UNK = "<pad>", "<unk>"
TOKEN = re.compile(r"[\w']+|[^\w\s]")


@dataclass
class TextConfig(DataConfig):
    min_freq: int = 1  # rarer words become <unk>
    max_vocab: int | None = None  # at most this many tokens, <pad> and <unk> included
    max_length: int | None = 256  # a sentence keeps its first N tokens (null: all, padded to the longest)

    def __post_init__(self) -> None:
        super().__post_init__()
        in_range("data", 1, min_freq=self.min_freq, max_length=self.max_length)
        in_range("data", 3, max_vocab=self.max_vocab)


@dataclass
class Labelled:
    """Labelled sentences read from `path`; `lines[i]` is the line sentence i came from."""

    path: Path
    sentences: list[str]
    labels: list[int]
    lines: list[int]


class SentenceBatch(tuple):
    """A text batch `(tokens, lengths, labels)`, used as that tuple, that also holds `texts`: its
    sentences as the file wrote them (case, punctuation and words the vocabulary lacks kept)."""

    texts: list[str]

    def __new__(cls, batch: Batch, texts: list[str]) -> "SentenceBatch":
        made = super().__new__(cls, batch)
        made.texts = texts
        return made


def sentences_of(batch: Batch, vocab: list[str]) -> list[str]:
    """Each sentence of a text batch: as written where the batch holds it (`SentenceBatch`), else its
    token ids read back through `vocab` (lower case, `<unk>` for each word the vocabulary lacks)."""
    if isinstance(batch, SentenceBatch):
        return batch.texts
    ids = batch[0].tolist()
    lengths = batch[1].tolist() if len(batch) > 2 else [len(row) for row in ids]  # (tokens, labels): unpadded
    return [" ".join(vocab[t] for t in row[:n]) for row, n in zip(ids, lengths, strict=True)]


def first_samples(batches: Iterable[Batch], n: int) -> Batch | None:
    """The first `n` samples of `batches` (all, where they hold fewer) as one batch, None of no batch:
    the same whatever batch size cut them. Token ids, which each batch pads to its own length, are
    padded to the longest; a `SentenceBatch`'s sentences are kept."""
    parts: list[tuple[torch.Tensor, ...]] = []
    texts: list[str] = []
    taken = 0
    for batch in batches:
        parts.append(tuple(column[: n - taken] for column in batch))
        texts += batch.texts[: n - taken] if isinstance(batch, SentenceBatch) else []
        taken += len(parts[-1][0])
        if taken >= n:
            break
    if not parts:
        return None
    joined = tuple(torch.cat(padded(column)) for column in zip(*parts, strict=True))
    return SentenceBatch(joined, texts) if texts else joined


def padded(column: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    """A column of batches, token ids [B, L] right-padded to the longest L; other tensors as they are."""
    if any(t.dim() != 2 or t.is_floating_point() for t in column):
        return list(column)
    longest = max(t.shape[1] for t in column)
    return [torch.nn.functional.pad(t, (0, longest - t.shape[1]), value=Vocabulary.pad_index) for t in column]


def tokenize(text: str) -> list[str]:
    """Lower-cased words (apostrophes kept: "n't", "'s") and single punctuation marks."""
    return TOKEN.findall(text.lower())


class Vocabulary:
    """Token <-> id. Id 0 is <pad>, id 1 is <unk>: any word it lacks maps to <unk>."""

    pad_index, unk_index = 0, 1

    def __init__(self, words: Iterable[str]) -> None:
        self.itos = [PAD, UNK, *(w for w in words if w not in (PAD, UNK))]
        self.stoi = {word: i for i, word in enumerate(self.itos)}

    @classmethod
    def build(cls, sentences: Iterable[list[str]], min_freq: int = 1, max_size: int | None = None) -> "Vocabulary":
        """The words seen at least `min_freq` times, most frequent first, at most `max_size` with the specials."""
        counts = Counter(token for sentence in sentences for token in sentence)
        words = sorted((w for w, n in counts.items() if n >= min_freq), key=lambda w: (-counts[w], w))
        return cls(words[: None if max_size is None else max(max_size - 2, 0)])

    def __len__(self) -> int:
        return len(self.itos)

    def __getitem__(self, word: str) -> int:
        return self.stoi.get(word, self.unk_index)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def encode(self, tokens: list[str]) -> list[int]:
        """Ids of `tokens`; an empty sentence becomes [<unk>] so that every sequence has a step."""
        return [self[t] for t in tokens] or [self.unk_index]


def tokenize_all(corpus: Labelled, max_length: int | None) -> list[list[str]]:
    """Each sentence's tokens, cut to the first `max_length` (a warning names the longest cut)."""
    tokens = [tokenize(s) for s in corpus.sentences]
    lengths = [len(t) for t in tokens]
    longest = max(range(len(lengths)), key=lengths.__getitem__)
    if max_length is None or lengths[longest] <= max_length:
        return tokens
    cut = sum(n > max_length for n in lengths)
    more = f"; {counted(cut - 1, 'more sentence')} cut too" if cut > 1 else ""
    said = f"{corpus.path}, line {corpus.lines[longest]}: a sentence of {lengths[longest]:,} tokens"
    warnings.warn(f"{said} is cut to its first {max_length} (data.max_length{more})", stacklevel=2)
    return [t[:max_length] for t in tokens]


@dataclass
class Padded:
    """The sentences of `corpus` that one split pads: its `tokens` (every sentence's) at `rows`."""

    corpus: Labelled
    tokens: list[list[str]]
    rows: list[int]

    def longest(self) -> int:
        return max(self.rows, key=lambda i: len(self.tokens[i]))

    def width(self) -> int:
        """The tokens of its longest sentence: the width its ids are padded to."""
        return len(self.tokens[self.longest()]) if self.rows else 0


def check_padding(splits: list[Padded]) -> None:
    """Refuse splits whose padding, each to its longest sentence ([rows, longest] int64 ids, built on the
    host and all held there on a CPU), would take over half the free memory: the process would be killed
    for it without a word. Only the sentences padded count: a long line that data.subset leaves out does not."""
    need, free = sum(len(split.rows) * split.width() * 8 for split in splits), available_memory()
    if free is None or need <= free // 2:
        return
    worst = max(splits, key=Padded.width)
    rows = sum(len(split.rows) for split in splits)
    raise TorchlabError(
        f"{worst.corpus.path}, line {worst.corpus.lines[worst.longest()]}: a sentence of {worst.width():,} tokens: "
        f"padding the {rows:,} sentences used, each split to its longest, would take {need / 1e9:.1f} GB of the "
        f"{free / 1e9:.1f} GB free; set data.max_length=N to keep each sentence's first N tokens"
    )


def pad(sequences: list[list[int]], pad_index: int = Vocabulary.pad_index) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids [N, longest] padded with `pad_index`, lengths [N])."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    ids = torch.full((len(sequences), max(map(len, sequences), default=1)), pad_index, dtype=torch.long)
    for i, sequence in enumerate(sequences):
        ids[i, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return ids, lengths


POOL = 50  # batches' worth of shuffled samples sorted by length together


def by_length(
    order: torch.Tensor, lengths: torch.Tensor, batch_size: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """`order` cut into batches of similar lengths, in random order: every POOL batches' worth of it is
    sorted by length before it is cut, so a batch's LSTM runs few steps past its shortest sentence."""
    batch_size = min(batch_size, max(len(order), 1))  # a batch above the set is the set (and no int64 overflow)
    pools = order.split(batch_size * POOL)
    batches = [b for pool in pools for b in pool[lengths[pool].argsort(stable=True)].split(batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


class PaddedLoader:
    """Batches of `(tokens, lengths, labels)` sliced from tensors on the device, trimmed per batch.
    Under torchrun each rank takes its `shard` of the order (training: padded). Given each row's
    sentence as written (`texts`), a batch is a `SentenceBatch` that holds its own."""

    def __init__(
        self,
        ids: torch.Tensor,
        lengths: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        generator: torch.Generator | None = None,
        texts: list[str] | None = None,
    ) -> None:
        self.ids, self.lengths, self.labels = ids, lengths, labels
        self.host_lengths = lengths.cpu()  # to trim each batch without a device sync
        self.batch_size = batch_size
        self.generator = generator  # None: keep the order (evaluation)
        self.texts = texts

    @property
    def samples(self) -> int:
        """The sentences this process's epoch holds: under torchrun its shard (training: padded)."""
        return len(shard(torch.arange(len(self.ids)), pad=self.generator is not None))

    def __len__(self) -> int:
        return -(-self.samples // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        n = len(self.ids)
        if self.generator is None:  # no sample, no batch (`split` of an empty tensor gives one empty batch)
            batches = shard(torch.arange(n)).split(self.batch_size) if n else ()
        else:
            order = shard(torch.randperm(n, generator=self.generator), pad=True)
            batches = by_length(order, self.host_lengths, self.batch_size, self.generator)
        for idx in batches:
            longest = int(self.host_lengths[idx].max())
            texts = None if self.texts is None else [self.texts[i] for i in idx.tolist()]
            idx = idx.to(self.ids.device, non_blocking=True)
            batch = self.ids[idx, :longest], self.lengths[idx], self.labels[idx]
            yield batch if texts is None else SentenceBatch(batch, texts)


class TextClassification:
    """Labelled sentences as padded ids on the device: train minus a seeded validation split (or the
    `(train, val)` indices that `split` gives for the training sentences, cut to `data.max_length`
    tokens), and a test set; the vocabulary is built from the training part only."""

    def __init__(
        self,
        cfg: TextConfig,
        device: torch.device,
        train: Labelled,
        test: Labelled,
        class_names: list[str],
        split: Callable[[list[str]], tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> None:
        tokens, labels = tokenize_all(train, cfg.max_length), torch.tensor(train.labels)
        test_tokens = tokenize_all(test, cfg.max_length)[: cfg.eval_subset]
        train_idx, val_idx = split(train.sentences) if split else split_indices(len(tokens), cfg)
        train_idx, val_idx = train_idx[: cfg.subset], val_idx[: cfg.eval_subset]
        check_padding([Padded(train, tokens, train_idx.tolist()), Padded(train, tokens, val_idx.tolist()),
                       Padded(test, test_tokens, list(range(len(test_tokens))))])  # fmt: skip
        self.split = describe_split(train_idx, val_idx)
        self.vocab = Vocabulary.build((tokens[i] for i in train_idx), cfg.min_freq, cfg.max_vocab)
        self.cfg = cfg

        def on_device(sentences: list[list[str]], targets: torch.Tensor) -> tuple[torch.Tensor, ...]:
            ids, lengths = pad([self.vocab.encode(s) for s in sentences])
            return ids.to(device), lengths.to(device), targets.to(device)

        self.train = on_device([tokens[i] for i in train_idx], labels[train_idx])
        self.val = on_device([tokens[i] for i in val_idx], labels[val_idx])
        self.test = on_device(test_tokens, torch.tensor(test.labels[: cfg.eval_subset]))
        self.val_texts = [train.sentences[i] for i in val_idx.tolist()]
        self.test_texts = test.sentences[: cfg.eval_subset]
        self.info = DataInfo((self.train[0].shape[1],), len(class_names), class_names, vocab=self.vocab.itos)
        self.train_size = len(train_idx)

    def contents(self) -> dict[str, str | list[str]]:
        splits = {"train": self.train, "val": self.val, "test": self.test}
        return digest_contents(splits, self.info.class_names or [])

    def train_loader(self, generator: torch.Generator) -> PaddedLoader:
        return PaddedLoader(*self.train, self.cfg.batch_size, generator)

    def val_loader(self) -> PaddedLoader:
        return PaddedLoader(*self.val, self.cfg.eval_batch_size, texts=self.val_texts)

    def test_loader(self) -> PaddedLoader:
        return PaddedLoader(*self.test, self.cfg.eval_batch_size, texts=self.test_texts)
