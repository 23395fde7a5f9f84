"""DataLoaders over map-style Datasets (an image folder, `torchlab.fit`'s Datasets), with or without
worker processes, that a stopped run resumes bit for bit.

The shuffling generator is the sampler's alone: the DataLoader seeds its workers from a generator
of its own, since a resumed run starts its workers at another point of the shuffling stream. The
workers ignore SIGINT and SIGTERM, also when the whole process group gets them: the training
process alone decides how a run stops, and ends them when the run is over or at exit (killing
those still busy after WORKER_GRACE seconds: a Dataset's read that hangs holds no stopped run).
"""

import atexit
import contextlib
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from torchlab.core.distributed import shard
from torchlab.core.errors import TorchlabError
from torchlab.core.runtime import cpu_streams_kept, seed_streams
from torchlab.data import Batch


class ShardSampler(Sampler):
    """This rank's indices of `n` items. Training (a generator): each epoch a permutation drawn from
    it, padded and sharded; evaluation (None): this rank's share of range(n), in order. With `seeds`,
    training yields (index, seed) pairs: a sample draws its augmentation from the epoch's seed and
    its index, whichever worker loads it."""

    def __init__(self, n: int, generator: torch.Generator | None = None, seeds: bool = False) -> None:
        self.n, self.generator, self.seeds = n, generator, seeds

    def __len__(self) -> int:
        return len(shard(torch.arange(self.n), pad=self.generator is not None))

    def __iter__(self) -> Iterator[int | tuple[int, int]]:
        if self.generator is None:
            yield from shard(torch.arange(self.n)).tolist()
            return
        # The draws of DataLoader(shuffle=True, generator=...) in one process, in its order: a base
        # seed (here the epoch's seed), the permutation, and at the epoch's end an unused one.
        seed = int(torch.empty((), dtype=torch.int64).random_(generator=self.generator))
        order = shard(torch.randperm(self.n, generator=self.generator), pad=True).tolist()
        yield from ((i, seed) for i in order) if self.seeds else order
        torch.randperm(self.n, generator=self.generator)


class SeededSamples(Dataset):
    """Your Dataset, each sample drawn with Python's, NumPy's and torch's random streams seeded from its
    index and, in training, the epoch's seed (a seeding `ShardSampler`'s pairs), those streams put back
    after: random augmentation then depends neither on which worker loads a sample nor on how many
    there are, a run resumed inside an epoch draws it again, and evaluation draws the same each time."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: int | tuple[int, int]) -> Any:
        return self.__getitems__([item])[0]

    def __getitems__(self, items: list[int | tuple[int, int]]) -> list[Any]:
        """A batch's samples (the DataLoader asks for them together): the streams are put back once a
        batch, not once a sample, as saving NumPy's costs ~50 µs; a worker's are no one else's."""
        kept = cpu_streams_kept() if get_worker_info() is None else contextlib.nullcontext()
        with kept:  # the training process's: dropout draws from them next
            return [self.seeded(item) for item in items]

    def seeded(self, item: int | tuple[int, int]) -> Any:
        i, seed = item if isinstance(item, tuple) else (item, 0)
        seed_streams(seed + i)
        return self.dataset[i]


MAX_WORKERS = 64  # each worker is a process holding a copy of the dataset object: more starts for minutes


def worker_loader(
    dataset: Dataset,
    batch_size: int,
    sampler: ShardSampler,
    workers: int,
    device: torch.device,
    collate: Callable[[list[Any]], Any] | None = None,
) -> DataLoader:
    """A DataLoader with `workers` processes that live across epochs, batching with `collate` (None:
    PyTorch's default). Their base seed comes from a generator of its own, seeded with the run's seed
    (the shuffling generator's), never from the shuffling generator itself or torch's global RNG: a
    resumed run starts its workers later."""
    seed = sampler.generator.initial_seed() if sampler.generator is not None else 0
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(seed),
        num_workers=workers,
        worker_init_fn=ignore_stop_signals,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )
    if workers:
        OPEN.add(loader)
    return loader


class DeviceBatches:
    """A DataLoader's batches on the device, the inputs (first) passed through `normalize` there if given."""

    def __init__(
        self, loader: DataLoader, device: torch.device, normalize: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> None:
        self.loader, self.device, self.normalize = loader, device, normalize

    @property
    def samples(self) -> int:
        """The samples this process's epoch holds (its sampler's: under torchrun its shard)."""
        return len(self.loader.sampler)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Batch]:
        try:
            for batch in batches(self.loader):
                x, *rest = (t.to(self.device, non_blocking=True) for t in batch)
                yield self.normalize(x) if self.normalize else x, *rest
        except TorchlabError as err:  # raised in a worker: it arrives wrapped in the worker's traceback
            raise TorchlabError(worker_message(str(err))) from None


class Loaders:
    """A DataModule's loaders by key, each built once so that its persistent workers live across
    epochs; `close` ends their workers, when the run (or whatever used the data) ends."""

    def __init__(self) -> None:
        self.built: dict[object, DeviceBatches] = {}

    def get(self, key: object, build: Callable[[], DeviceBatches]) -> DeviceBatches:
        if key not in self.built:
            self.built[key] = build()
        return self.built[key]

    def close(self) -> None:
        end_workers(device_batches.loader for device_batches in self.built.values())
        self.built.clear()  # used again, they start anew


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def batches(loader: DataLoader) -> Iterator:
    """`iter(loader)`, which starts the workers on the first epoch, with SIGINT and SIGTERM held back
    in this thread meanwhile (a signal arriving then is handled right after). The workers start with
    them held back too, until `ignore_stop_signals`: torch's own SIGTERM handler, installed before it,
    would end a worker on the process group's SIGTERM, and the run would fail instead of stopping."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        return iter(loader)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def ignore_stop_signals(worker_id: int) -> None:
    """In a DataLoader worker: SIGINT and SIGTERM are for the training process to handle (it ends
    the workers when the run stops), also when they reach the whole process group. Held back since
    the worker started (`batches`), any that arrived meanwhile are dropped here."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


OPEN: set[DataLoader] = set()  # loaders with workers, until `end_workers`


WORKER_GRACE = 2.0  # seconds the workers have to end once their loaders are done; then they are killed


@atexit.register  # after multiprocessing's exit handler (imported with DataLoader): runs before it
def end_workers(loaders: Iterable[DataLoader] | None = None) -> None:
    """End the persistent workers of `loaders` (at exit: of every loader still open) as their loader
    would. multiprocessing's exit handler would send them SIGTERM, which they ignore, and wait."""
    iterators = []
    for loader in list(OPEN if loaders is None else loaders):
        OPEN.discard(loader)
        iterator = getattr(loader, "_iterator", None)  # torch's: where the workers live
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterators.append(iterator)
    with killed_when_stuck(iterators):
        for iterator in iterators:
            iterator._shutdown_workers()


@contextlib.contextmanager
def killed_when_stuck(iterators: list[Any]) -> Iterator[None]:
    """Kill (SIGKILL) the iterators' workers still alive WORKER_GRACE seconds into the block. torch's
    shutdown waits 5 s for each, then sends SIGTERM, which ours ignore: a worker stuck in a Dataset's
    __getitem__ (a network read, a sleep) held a stopped run until it returned, and at exit for ever.
    torch no longer watches them first: its SIGCHLD handler would call a killed worker a crash."""
    for iterator in iterators:
        if getattr(iterator, "_worker_pids_set", False):
            torch.utils.data._utils.signal_handling._remove_worker_pids(id(iterator))
            iterator._worker_pids_set = False
    workers = [w for iterator in iterators for w in getattr(iterator, "_workers", [])]
    timer = threading.Timer(WORKER_GRACE, lambda: [w.kill() for w in workers if w.is_alive()])
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def worker_message(text: str) -> str:
    """A TorchlabError's own line out of the text a DataLoader worker's error arrives with
    ("Caught TorchlabError in DataLoader worker process 0. Original Traceback ... TorchlabError: MSG")."""
    if "Original Traceback" not in text:
        return text
    last = next((line for line in reversed(text.strip().splitlines()) if line.strip()), text)
    return last.split("TorchlabError: ", 1)[-1]
