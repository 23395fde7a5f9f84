"""Evaluation speed against `data.eval_batch_size`: why the default is 256; with `--train`, training speed
against `data.batch_size`.

Each image recipe's model (random weights, its recipe's memory format) predicts `--images` random 28x28
images in batches of each size (eval mode), or with `--train` takes training steps on them (forward,
cross-entropy, backward, the recipe's optimizer); the table gives thousands of images per second,
the median of `--rounds` alternating rounds. Run it alone: it times the CPU.

Usage: PYTHONPATH=src python benchmarks/eval_batch.py [--train] [--rounds 3] [--sizes 128,256,512,1000]
       [--images 10000] [--recipes fashion-resnet,fashion-densenet]
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from torchlab.data import DataInfo
from torchlab.engine.optim import build_optimizer
from torchlab.models import build_model
from torchlab.recipes import load_recipe

RECIPES = ["mnist-mlp", "mnist-cnn", "fashion-lenet5", "fashion-resnet", "fashion-densenet"]


def recipe_model(recipe: str) -> tuple[torch.nn.Module, torch.memory_format, int, torch.optim.Optimizer]:
    """An image recipe's model with random weights, in its recipe's memory format, its batch size and its
    optimizer."""
    config = load_recipe(recipe)
    layout = torch.channels_last if config.train.channels_last else torch.contiguous_format
    model = build_model(config.model, DataInfo((1, 28, 28), 10)).to(memory_format=layout)
    return model, layout, config.data.batch_size, build_optimizer(config.optim, model.parameters())


def images_per_second(step: Callable[[], object], batch_size: int, images: int) -> float:
    """Images a second of `step` (one batch of `batch_size`) over at least `images` images, after one
    warm-up call: the first call picks kernels."""
    step()
    started, done = time.perf_counter(), 0
    while done < images:
        step()
        done += batch_size
    return done / (time.perf_counter() - started)


def predict(model: torch.nn.Module, batch: torch.Tensor) -> Callable[[], object]:
    return torch.no_grad()(lambda: model(batch))


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: torch.Tensor) -> Callable[[], None]:
    labels = torch.randint(0, 10, (len(batch),))

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(batch), labels).backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="128,256,512,1000")
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--train", action="store_true", help="time training steps, not predictions")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"| recipe | {' | '.join(f'batch {s}' for s in sizes)} |")
    print(f"|---|{'---|' * len(sizes)}")
    for recipe in args.recipes.split(","):
        model, layout, _, optimizer = recipe_model(recipe)
        model.train(args.train)
        rates: dict[int, list[float]] = {s: [] for s in sizes}
        for _ in range(args.rounds):
            for size in sizes:
                batch = torch.randn(size, 1, 28, 28).to(memory_format=layout)
                step = train_step(model, optimizer, batch) if args.train else predict(model, batch)
                rates[size].append(images_per_second(step, size, args.images))
        print(f"| {recipe} | {' | '.join(f'{statistics.median(rates[s]) / 1000:.2f}k' for s in sizes)} |")


if __name__ == "__main__":
    main()
