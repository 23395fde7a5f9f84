"""Evaluation speed against `data.eval_batch_size`: why the default is 256.

Each image recipe's model (random weights, eval mode, its recipe's memory format) predicts `--images`
random 28x28 images in batches of each size; the table gives thousands of images per second,
the median of `--rounds` alternating rounds. Run it alone: it times the CPU.

Usage: PYTHONPATH=src python benchmarks/eval_batch.py [--rounds 3] [--sizes 128,256,512,1000] [--images 10000]
"""

import argparse
import statistics
import time

import torch

from torchlab.data import DataInfo
from torchlab.models import build_model
from torchlab.recipes import load_recipe

RECIPES = ["mnist-mlp", "mnist-cnn", "fashion-lenet5", "fashion-resnet", "fashion-densenet"]


def recipe_model(recipe: str) -> tuple[torch.nn.Module, torch.memory_format, int]:
    """An image recipe's model with random weights, in its recipe's memory format, and its batch size."""
    config = load_recipe(recipe)
    layout = torch.channels_last if config.train.channels_last else torch.contiguous_format
    model = build_model(config.model, DataInfo((1, 28, 28), 10)).to(memory_format=layout)
    return model, layout, config.data.batch_size


def images_per_second(model: torch.nn.Module, batch: torch.Tensor, images: int) -> float:
    with torch.no_grad():
        model(batch)  # warm-up: the first call picks kernels
        started, done = time.perf_counter(), 0
        while done < images:
            model(batch)
            done += len(batch)
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="128,256,512,1000")
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"| recipe | {' | '.join(f'batch {s}' for s in sizes)} |")
    print(f"|---|{'---|' * len(sizes)}")
    for recipe in RECIPES:
        model, layout, _ = recipe_model(recipe)
        model.eval()
        rates: dict[int, list[float]] = {s: [] for s in sizes}
        for _ in range(args.rounds):
            for size in sizes:
                batch = torch.randn(size, 1, 28, 28).to(memory_format=layout)
                rates[size].append(images_per_second(model, batch, args.images))
        print(f"| {recipe} | {' | '.join(f'{statistics.median(rates[s]) / 1000:.1f}k' for s in sizes)} |")


if __name__ == "__main__":
    main()
