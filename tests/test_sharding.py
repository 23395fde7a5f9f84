"""Every loader kind shards by rank: two real gloo processes together see each training sample once
(padded like DistributedSampler: every rank takes as many steps), the evaluation shards partition the
items (inside `unsharded` each rank sees them all), and in one process the batches are exactly the
unsharded ones."""

import math
from collections import Counter

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from PIL import Image
from torch.utils.data import DataLoader

from torchlab.config import build_config
from torchlab.core.distributed import unsharded
from torchlab.data import build_data
from torchlab.data.loaders import TensorLoader
from torchlab.data.text import PaddedLoader, by_length, pad

pytestmark = pytest.mark.slow  # starts two processes

WORLD, SEED, EPOCHS = 2, 7, 2
N_TENSOR, N_TEXT, N_IMAGES = 13, 11, 15  # the folder: 9 train, 3 val, 3 test


def tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs that repeat their sample's id, and the id as the target."""
    return torch.arange(N_TENSOR).float()[:, None].repeat(1, 3), torch.arange(N_TENSOR)


def sentences() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sentence i: token i + 2, 1 to 4 times; label i."""
    ids, lengths = pad([[i + 2] * (i % 4 + 1) for i in range(N_TEXT)])
    return ids, lengths, torch.arange(N_TEXT)


def image_folder(root) -> str:
    """One PNG per class, so that each image has its own label."""
    rng = np.random.default_rng(0)
    for i in range(N_IMAGES):
        (root / f"c{i:02d}").mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(root / f"c{i:02d}" / "0.png")
    return str(root)


def folder_data(folder: str):
    data = {"name": "folder", "folder": folder, "image_size": 8, "workers": 0, "batch_size": 2, "eval_batch_size": 2}
    return build_data(build_config({"data": data}).data, torch.device("cpu"))


def loaders(folder: str) -> dict[str, tuple]:
    """(training loader, its generator, evaluation loader) per kind."""
    generators = [torch.Generator().manual_seed(SEED) for _ in range(3)]
    images = folder_data(folder)
    return {
        "tensor": (TensorLoader(*tensors(), 2, generator=generators[0]), generators[0], TensorLoader(*tensors(), 4)),
        "text": (PaddedLoader(*sentences(), 2, generators[1]), generators[1], PaddedLoader(*sentences(), 3)),
        "folder": (images.train_loader(generators[2]), generators[2], images.val_loader()),
    }


def labels(loader) -> list[list[int]]:
    """The labels (the last element of a batch) of each batch, in order."""
    return [batch[-1].tolist() for batch in loader]


def collect(folder: str) -> dict[str, dict]:
    out = {}
    for kind, (train, _, evaluate) in loaders(folder).items():
        epochs = [labels(train) for _ in range(EPOCHS)]
        out[kind] = {"len": len(train), "epochs": epochs, "eval_len": len(evaluate), "eval": labels(evaluate)}
        with unsharded():
            out[kind]["whole"] = labels(evaluate)
        if kind == "text":  # each batch is trimmed to its longest sentence, and its rows match its labels
            for tokens, lengths, y in train:
                assert tokens.shape[1] == int(lengths.max()) and torch.equal(tokens[:, 0], y + 2)
    return out


def worker(rank: int, store: str, folder: str, results: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    try:
        torch.save(collect(folder), f"{results}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_ranks_share_every_kind_of_data(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    folder = image_folder(tmp_path / "images")
    single = folder_data(folder)  # writes the index that both ranks then read
    items = {  # each sample's label, in the dataset's order: (training, evaluation)
        "tensor": (list(range(N_TENSOR)), list(range(N_TENSOR))),
        "text": (list(range(N_TEXT)), list(range(N_TEXT))),
        "folder": (single.datasets[0].labels, single.datasets[1].labels),
    }
    assert [len(single.datasets[0]), len(single.datasets[1])] == [9, 3]
    assert len(set(single.datasets[0].labels + single.datasets[1].labels)) == 12  # one label per image
    mp.spawn(worker, args=(str(tmp_path / "store"), folder, str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]

    for kind, (train_items, eval_items) in items.items():
        n = len(train_items)
        assert ranks[0][kind]["len"] == ranks[1][kind]["len"] == math.ceil(math.ceil(n / WORLD) / 2), kind
        for r in ranks:
            assert all(len(r[kind]["epochs"][e]) == r[kind]["len"] for e in range(EPOCHS)), kind
            assert len(r[kind]["eval"]) == r[kind]["eval_len"], kind
        for epoch in range(EPOCHS):
            seen = [sum(r[kind]["epochs"][epoch], []) for r in ranks]
            assert len(seen[0]) == len(seen[1]) == -(-n // WORLD), kind  # padded, not cut
            counts = Counter(seen[0] + seen[1])
            assert set(counts) == set(train_items), kind
            assert sum(c - 1 for c in counts.values()) == (WORLD - n % WORLD) % WORLD, kind
        evaluated = [sum(r[kind]["eval"], []) for r in ranks]
        assert evaluated == [eval_items[r::WORLD] for r in range(WORLD)], kind
        assert all(sum(r[kind]["whole"], []) == eval_items for r in ranks), kind  # inside `unsharded`: all

    # Both ranks shuffle alike: interleaving the padded permutation is the sharding (text: each rank
    # then cuts its part into batches of similar lengths, with the generator where the permutation left it).
    for kind, n in (("tensor", N_TENSOR), ("text", N_TEXT)):
        reference = torch.Generator().manual_seed(SEED)
        order = torch.randperm(n, generator=reference)
        padded = torch.cat([order, order[: (WORLD - n % WORLD) % WORLD]])
        shards = [padded[r::WORLD] for r in range(WORLD)]
        if kind == "text":
            shards = [torch.cat(by_length(part, sentences()[1], 2, reference.clone_state())) for part in shards]
        assert [sum(r[kind]["epochs"][0], []) for r in ranks] == [part.tolist() for part in shards], kind
    assert ranks[0]["folder"]["epochs"][0] != ranks[0]["folder"]["epochs"][1]  # a new order each epoch


def test_one_process_keeps_the_unsharded_batches(tmp_path):
    """Without a process group and in a group of one: exactly the batches of the loaders before sharding."""
    folder = image_folder(tmp_path / "images")
    check_unsharded(folder)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        check_unsharded(folder)
    finally:
        dist.destroy_process_group()


def check_unsharded(folder: str) -> None:
    kinds = loaders(folder)
    inputs, targets = tensors()
    ids, lengths, text_labels = sentences()
    for kind, data in (("tensor", (inputs, targets)), ("text", (ids, lengths, text_labels))):
        train, generator, evaluate = kinds[kind]
        reference = torch.Generator().manual_seed(SEED)
        for _ in range(EPOCHS):
            order = torch.randperm(len(targets if kind == "tensor" else ids), generator=reference)
            batches = order.split(2) if kind == "tensor" else by_length(order, lengths, 2, reference)
            for got, idx in zip(train, batches, strict=True):
                want = [t[idx] for t in data]
                if kind == "text":
                    want[0] = want[0][:, : int(lengths[idx].max())]
                assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True)), kind
        assert torch.equal(generator.get_state(), reference.get_state()), kind
        assert sum(labels(evaluate), []) == list(range(len(data[-1]))), kind

    # The image folder: as the DataLoader with shuffle=True and the same generator, epoch after epoch.
    train, generator, evaluate = kinds["folder"]
    images = folder_data(folder)
    reference = torch.Generator().manual_seed(SEED)
    shuffled = DataLoader(images.datasets[0], batch_size=2, shuffle=True, generator=reference)
    for _ in range(EPOCHS):
        assert len(train) == len(shuffled)
        for (x, y), (want_x, want_y) in zip(train, shuffled, strict=True):
            assert torch.equal(y, want_y) and torch.equal(x, images.normalize(want_x))
    assert torch.equal(generator.get_state(), reference.get_state())
    assert sum(labels(evaluate), []) == images.datasets[1].labels
