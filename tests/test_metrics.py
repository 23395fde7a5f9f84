"""Running means: a per-sample metric, computed late for many batches at once, gives the same
means as computing it batch by batch, over an interval and across a mid-epoch checkpoint; over ranks,
every rank takes part in the collective."""

from datetime import timedelta

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from torchlab.core.metrics import MAX_PENDING, PerSample, RunningMeans
from torchlab.tasks.classify import correct


def batches(seed: int = 0):
    """Logits and labels of uneven batches (the last one short, as at an epoch's end)."""
    g = torch.Generator().manual_seed(seed)
    for n in (64, 64, 64, 64, 64, 17):
        yield torch.randn(n, 10, generator=g), torch.randint(0, 10, (n,), generator=g)


def add_all(means: RunningMeans, items) -> None:
    for logits, y in items:
        loss = torch.nn.functional.cross_entropy(logits, y)
        means.add({"loss": loss, "accuracy": PerSample(correct, (logits, y))}, len(y))


def test_per_sample_means_equal_the_batch_by_batch_means():
    items = list(batches())
    eager_correct = sum(correct(logits, y).sum().item() for logits, y in items)
    total = sum(len(y) for _, y in items)
    means = RunningMeans()
    add_all(means, items[:2])
    since = means.snapshot()
    add_all(means, items[2:])
    assert len(means.pending["accuracy"]) == 4  # kept, not computed: the next read settles them
    interval_correct = sum(correct(logits, y).sum().item() for logits, y in items[2:])
    interval = means.means(since=since)
    assert interval["accuracy"] == pytest.approx(interval_correct / (total - 128), rel=1e-6)  # float32 means
    whole = means.means()
    assert list(whole) == ["loss", "accuracy"] and whole["accuracy"] == pytest.approx(eager_correct / total, rel=1e-6)
    assert 0.0 < whole["accuracy"] < 0.5  # random logits: about one in ten


def test_a_mid_epoch_checkpoint_of_the_means_continues_exactly():
    items = list(batches(seed=1))
    straight = RunningMeans()
    add_all(straight, items)
    first = RunningMeans()
    add_all(first, items[:3])
    resumed = RunningMeans()
    resumed.load_state_dict(first.state_dict(), torch.device("cpu"))
    add_all(resumed, items[3:])
    assert resumed.means() == straight.means()


def test_per_sample_batches_are_computed_before_they_pile_up():
    """However long the logging interval, at most MAX_PENDING batches of logits are held."""
    g = torch.Generator().manual_seed(2)
    items = [(torch.randn(8, 10, generator=g), torch.randint(0, 10, (8,), generator=g)) for _ in range(150)]
    means = RunningMeans()
    for i in range(0, len(items), 10):
        add_all(means, items[i : i + 10])
        assert len(means.pending.get("accuracy", [])) < MAX_PENDING
    expected = sum(correct(logits, y).sum().item() for logits, y in items) / (8 * len(items))
    assert means.means()["accuracy"] == pytest.approx(expected, rel=1e-6)


def means_of_rank(rank: int, store: str, results: str) -> None:
    """Rank 0 adds every batch, rank 1 none (its shard empty); each saves the means over both."""
    torch.set_num_threads(1)
    # a rank left waiting in a collective fails in 20 s, not the default 30 min
    dist.init_process_group(
        "gloo", init_method=f"file://{store}", rank=rank, world_size=2, timeout=timedelta(seconds=20)
    )
    try:
        means = RunningMeans(over_ranks=True)
        add_all(means, list(batches()) if rank == 0 else [])
        torch.save(means.means(), f"{results}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # starts two processes
def test_means_over_ranks_take_every_rank_into_the_collective_one_without_samples_too(tmp_path):
    """Before: a rank that had added no samples returned {} without the all-reduce that the others waited in."""
    mp.spawn(means_of_rank, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    alone = RunningMeans()
    add_all(alone, batches())
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in range(2)]
    assert ranks[0] == ranks[1] == alone.means()  # rank 0's samples are all there are
