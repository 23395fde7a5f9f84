"""Device choice, the C allocator's settings, seeding and the RNG states that a checkpoint carries."""

import contextlib
import ctypes
import os
import platform
import random
import time
import warnings
from collections.abc import Iterator
from functools import cache
from typing import Any

import numpy as np
import torch

from torchlab.core.errors import TorchlabError
from torchlab.core.words import counted


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA where present, else the CPU; asking for an absent accelerator (CUDA, MPS...) is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):  # TypeError: not a str (None, from Python)
        raise TorchlabError(f"unknown device '{name}'; use auto, cpu, cuda, cuda:N or mps") from None
    here = torch.accelerator.current_accelerator(check_available=True)
    if device.type != "cpu" and (here is None or here.type != device.type):
        raise TorchlabError(f"device '{name}' asked for, but no {device.type.upper()} device is available here")
    count = torch.accelerator.device_count() if device.type != "cpu" else 0
    if device.index is not None and device.type != "cpu" and device.index >= count:  # else torch fails later
        kind = device.type
        there = f"{kind}:0" if count == 1 else f"{kind}:0 to {kind}:{count - 1}"
        raise TorchlabError(
            f"device '{name}' asked for, but this host has {counted(count, f'{kind.upper()} device')}: {there}"
        )
    return device


# (limit, usage) of this process's memory cgroup, v2 then v1: a container's limit, where the OOM killer acts.
CGROUP_MEMORY = (
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
)


def available_memory() -> int | None:
    """Bytes this process can still allocate: the host's (Linux's MemAvailable), or less where a cgroup
    (a container) limits memory below it; None where neither says."""
    known = [n for n in (host_available(), *(cgroup_headroom(*files) for files in CGROUP_MEMORY)) if n is not None]
    return min(known, default=None)


def host_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def cgroup_headroom(limit: str, usage: str) -> int | None:
    """`limit` minus `usage` (bytes, as cgroup files hold them); None without a limit ("max") or the files."""
    try:
        with open(limit, encoding="ascii") as f, open(usage, encoding="ascii") as g:
            return max(int(f.read()) - int(g.read()), 0)
    except (OSError, ValueError):
        return None


def resolve_amp(amp: str, device: torch.device) -> str:
    """`train.amp`'s precision on `device`: `auto` is bf16 where bf16 is fast there, else none."""
    if amp != "auto":
        return amp
    return "bf16" if fast_bf16(device) else "none"


@cache
def fast_bf16(device: torch.device) -> bool:
    """CUDA with bf16 support; a CPU whose bf16 matmul runs at least 1.5x its fp32 one.

    A CPU with native bf16 instructions (AVX512-BF16, AMX) multiplies bf16 about twice as fast as
    fp32; without them bf16 is emulated and slower (150 against 254 GFLOP/s on one Intel host here).
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and bf16_matmul_speedup() >= 1.5


def bf16_matmul_speedup(size: int = 512, rounds: int = 5) -> float:
    """fp32 seconds / bf16 seconds of a size x size matmul on the CPU: the best of `rounds` of each,
    alternating, so that a busy moment slows both alike (about 30 ms on this project's CPU host)."""
    seconds: dict[torch.dtype, list[float]] = {torch.float32: [], torch.bfloat16: []}
    numbers = torch.Generator().manual_seed(0)  # not the run's seeded stream
    pairs = {dtype: torch.randn(2, size, size, generator=numbers).to(dtype) for dtype in seconds}
    for _ in range(rounds + 1):
        for dtype, (a, b) in pairs.items():
            started = time.perf_counter()
            torch.mm(a, b)
            seconds[dtype].append(time.perf_counter() - started)
    return min(seconds[torch.float32][1:]) / min(seconds[torch.bfloat16][1:])  # [0]: the warm-up


# mallopt(3) parameters, as glibc's malloc.h numbers them.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
ALLOCATOR_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "LD_PRELOAD")


def keep_freed_memory() -> bool:
    """Have glibc keep the memory a training step frees for the next step; returns whether it did.

    glibc hands a freed block above its mmap threshold (128 KiB, rising with use) back to the system,
    so every step of a CPU training faults the same pages in again: about 2,600 page faults a step of
    fashion-densenet, 1,000 of mnist-cnn. Blocks up to 32 MiB served from the heap, and the heap not
    trimmed below 1 GiB, cost no fault after the first steps; a bare step ran up to 1.24x faster
    (benchmarks/allocator.py), and the memory kept is what the next step takes anyway. Nothing changes
    elsewhere than glibc, nor where the environment sets an allocator (MALLOC_*_ or LD_PRELOAD: tcmalloc,
    jemalloc), which stays the user's choice.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or any(map(os.getenv, ALLOCATOR_VARIABLES)):
        return False
    libc = ctypes.CDLL(None)  # the C library this process already runs on
    return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20) and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank `rank`'s random streams (dropout, augmentation, noise): rank 0 keeps `seed`,
    so a one-process run is unchanged; every other rank gets its own stream derived from it."""
    if rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, rank]).generate_state(1, np.uint64)[0] >> 1)  # below 2**63


def warn_of_other_threads(written: int | None, what: str) -> None:
    """Warn when `what`, computed on `written` threads, continues on another count: its sums then
    run in another order, and the weights leave a run never stopped in their last digits."""
    threads = torch.get_num_threads()
    if written is not None and written != threads:
        warnings.warn(
            f"{what} trained on {counted(written, 'thread')} and continues on {threads}: its weights will differ in "
            f"their last digits from a run never stopped (OMP_NUM_THREADS={written} keeps them bit for bit)",
            stacklevel=2,
        )


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


@contextlib.contextmanager
def global_state_kept() -> Iterator[None]:
    """Put back, whatever happens inside, what seeding a run changes in the caller's process: the
    Python, NumPy and torch random streams and the deterministic-algorithm switches. A notebook's
    next cell then draws as if no run had seeded them."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    benchmark, workspace = torch.backends.cudnn.benchmark, os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    try:
        with cpu_streams_kept():
            yield
    finally:
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.backends.cudnn.benchmark = benchmark
        if workspace is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = workspace


def seed_streams(seed: int) -> None:
    """Seed Python's, NumPy's and torch's CPU random streams (not CUDA's) with `seed`."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.default_generator.manual_seed(seed)


@contextlib.contextmanager
def cpu_streams_kept() -> Iterator[None]:
    """Python's, NumPy's and torch's CPU random streams put back after, as they were before."""
    python, numpy_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(python)
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)


def rng_states(data_generator: torch.Generator) -> dict[str, Any]:
    """Every RNG a run draws from, as tensors and primitives only (weights_only loads it)."""
    version, mt_state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    return {
        "python": [version, list(mt_state), gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), np_pos, np_has_gauss, np_gauss],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "data": data_generator.get_state(),
    }


def restore_rng_states(states: dict[str, Any], data_generator: torch.Generator) -> None:
    version, mt_state, gauss = states["python"]
    random.setstate((version, tuple(mt_state), gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = states["numpy"]
    np.random.set_state((np_name, np_keys.numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss))
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    data_generator.set_state(states["data"])
