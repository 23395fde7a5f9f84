"""Multi-process training: `torchrun --nproc_per_node=N -m torchlab train RECIPE`.

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; `setup_distributed` joins the process group
(gloo, and NCCL for CUDA tensors where CUDA is) and returns the device, rank and world size, as
torchvision's `init_distributed_mode` does; as they join, the ranks agree on a refusal any of them
met (`first_refusal`). Only rank 0 writes files and logs. Loaders read their shard with
`shard` (the whole set inside `unsharded`); `RunningMeans` sums training metrics across ranks with `sum_over_ranks`.
"""

import atexit
import os
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from torchlab.core.errors import RefusedTogether, TorchlabError
from torchlab.core.flags import Flag
from torchlab.core.runtime import resolve_device

# How long a rank that refused before joining the group waits there for the others to join and agree
# (`refusal_agreed`): they join as they start their run, within seconds of it.
JOIN_SECONDS = 60


@dataclass(frozen=True)
class Distributed:
    device: torch.device
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_name: str) -> Distributed:
    """One process: the resolved device. Under torchrun: one device per rank, the group joined (`join`)."""
    process = this_process(device_name)
    join(process)
    return process


def this_process(device_name: str) -> Distributed:
    """This process's device, rank and world size, from torchrun's environment; joins no group."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if world_size == 1:
        return Distributed(device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return Distributed(device, rank, world_size)


def join(process: Distributed) -> None:
    """Under torchrun, join the process group if this process has not, and agree with every rank on
    a refusal met before (`first_refusal`): raises RefusedTogether if any rank refused."""
    if process.world_size > 1 and not dist.is_initialized():
        join_group()
        if (refusal := first_refusal(None)) is not None:
            raise RefusedTogether(refusal)


def join_group(timeout: timedelta | None = None) -> None:
    """Join torchrun's process group. Once per process, left at exit: leaving and joining again between
    two runs of one process (cv's folds, a script's loop) could hang both ranks in the next run's first
    collective. Every rank picks the backends from the host, not from the run's config, which a rank
    that refused may not have read: gloo for CPU tensors and objects, NCCL for CUDA tensors where CUDA is."""
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend, **({"timeout": timeout} if timeout else {}))
    atexit.register(cleanup_distributed)


def first_refusal(message: str | None) -> str | None:
    """Every rank's first collective, as it joins: the message of the first rank that refused its input
    (`rank R: ...` on the others), or None when none did. A rank that refuses before joining joins to
    say so (`refusal_agreed`), so that a refusal met by any rank ends every rank at once; rank 0 waited
    in the group's rendezvous for it, where torchrun's SIGTERM could not end it (killed 30 s later)."""
    said = gather_objects(message)
    rank, first = next(((r, m) for r, m in enumerate(said) if m is not None), (0, None))
    return first if first is None or rank == dist.get_rank() else f"rank {rank}: {first}"


@contextmanager
def refusals_shared() -> Iterator[None]:
    """Under torchrun, a refusal met inside the block by some ranks only (rank 0's own checks of the run
    directory) is every rank's: the others raise RefusedTogether at the block's end rather than wait for
    the refusing ranks in their next collective, and crash when they leave. One gather on every rank;
    nothing in one process. The block must hold no collective: a refusing rank gathers early."""
    joined = dist.is_available() and dist.is_initialized()
    try:
        yield
    except TorchlabError as err:
        if joined:
            first_refusal(str(err))
        raise
    if joined and (refusal := first_refusal(None)) is not None:
        raise RefusedTogether(refusal)


def refusal_agreed(message: str) -> str | None:
    """For a rank under torchrun that refuses its input (`message`): the refusal every rank agrees to
    say, once it has joined the group (`first_refusal`). None where no agreement can be had: the group
    joined already (the others went on past the agreement), or the others join none within JOIN_SECONDS
    (a command that needs no group)."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1 or dist.is_initialized():
        return None
    try:
        join_group(timedelta(seconds=JOIN_SECONDS))
        return first_refusal(message)
    except (RuntimeError, ValueError):  # torch's DistError (a timeout, a rank gone) is a RuntimeError
        return None


def data_parallel(model: torch.nn.Module) -> torch.nn.parallel.DistributedDataParallel:
    """`model` under DistributedDataParallel. Each rank keeps its own BatchNorm statistics (rank 0's
    are saved): broadcasting them would make every forward a collective, and evaluation shards differ
    in length."""
    with warnings.catch_warnings():
        # torch 2.14 renamed broadcast_buffers to forward_sync_buffers; the older torch that
        # pyproject allows knows only the old name, so it stays, without a warning from every rank.
        warnings.simplefilter("ignore", FutureWarning)
        return torch.nn.parallel.DistributedDataParallel(model, broadcast_buffers=False)


def is_main_process() -> bool:
    """Rank 0, or the only process; readable before setup (for printing)."""
    return int(os.environ.get("RANK", "0")) == 0


def is_node_main_process() -> bool:
    """The first process of this machine under torchrun (LOCAL_RANK 0), or the only process; readable before
    setup (for saying a thing once per machine)."""
    return int(os.environ.get("LOCAL_RANK", "0")) == 0


_WHOLE_SETS = Flag("whole_sets")


def unsharded() -> AbstractContextManager[None]:
    """Inside the block `shard` gives every rank all the items: validation, the test pass and the figures
    see the whole set on each rank, in the batches of one process, so that their figures (random draws
    included: a VAE's latent samples, a GAN's noise) equal one process's exactly."""
    return _WHOLE_SETS.on()


def shard(items: torch.Tensor, pad: bool = False) -> torch.Tensor:
    """This rank's share of `items` (along dim 0): rows rank, rank + W, ... for W ranks; `items` itself
    in one process. With `pad` (training: `items` is the epoch's permutation, the same on every rank)
    the rows are first PADDED with their own first rows to a multiple of W, as DistributedSampler pads:
    every rank takes as many steps, and at most W - 1 samples come twice. Without (evaluation) the
    shards together hold every item exactly once. Rank r's k-th batch of size B / W is then its part
    of the single process's k-th batch of size B."""
    if _WHOLE_SETS.is_on() or not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return items
    rank, world, n = dist.get_rank(), dist.get_world_size(), len(items)
    if pad and n:
        items = items[torch.arange(-(-n // world) * world, device=items.device) % n]
    return items[rank::world]


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The sum over ranks (the tensor itself in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(tensor)
    return tensor


def any_rank(device: torch.device, *flags: bool) -> list[bool]:
    """For each flag, whether it is set on any rank: one small all-reduce (the flags themselves in one process).

    The training loop asks it every step under torchrun, so that a stop or a diverged loss on one
    rank ends every rank at the same step instead of leaving the others waiting in a collective."""
    if not (dist.is_available() and dist.is_initialized()):
        return list(flags)
    return [bool(v) for v in all_reduce_sum(torch.tensor([float(f) for f in flags], device=device)).tolist()]


def max_over_ranks(device: torch.device, value: int) -> int:
    """The largest of every rank's `value` (the value itself in one process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    tensor = torch.tensor([value], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return int(tensor.item())


def gather_objects(value: object) -> list[object]:
    """Every rank's `value` (tensors on the CPU), in rank order; `[value]` in one process."""
    if not (dist.is_available() and dist.is_initialized()):
        return [value]
    values: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values


def sum_over_ranks(sums: dict[str, torch.Tensor], count: int) -> tuple[dict[str, torch.Tensor], int]:
    """Every rank's named `sums` (on the CPU) and `count` added up, the same on every rank; themselves in one
    process. The names travel with the sums (one gather), so a rank with no samples, whose sums name
    nothing, takes part too (its share is zero) rather than skip the collective the others wait in."""
    if not (dist.is_available() and dist.is_initialized()):
        return sums, count
    totals: dict[str, torch.Tensor] = {}
    total_count = 0
    for their_sums, their_count in gather_objects(({k: v.cpu() for k, v in sums.items()}, count)):
        for name, value in their_sums.items():
            totals[name] = totals[name] + value if name in totals else value
        total_count += their_count
    return totals, total_count


def from_rank0(value: object) -> object:
    """Rank 0's `value` on every rank (e.g. a run directory named after the clock)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Wait for every rank. A finished rank waits here before it exits, and the wait releases the GIL:
    a gloo worker thread may still need it to free the tensors of the last all-reduce, and a rank that
    reaches interpreter shutdown first aborts ("terminate called without an active exception")."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
