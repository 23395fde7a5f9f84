"""Creating tensors: the functions of the notes' table 常用PyTorch方法, corrected.

`Torch.empty`, `Torch.FloatTensor`, `torch,randn`, `torch,arange`, `torch.linespace` are typos;
numel() counts elements, not bytes; normal() takes a standard deviation; logspace's steps is the
number of points (base is its own argument); set_default_tensor_type is deprecated in favour of
set_default_dtype. `torch.eye(shape)` takes integers, eye(3) or eye(3, 4), not a shape list, and
`torch.randperm()` needs the count n. The table gives signatures only: the sizes and values here
are examples.
"""

import torch

from torchlab.notes import show

ORDER = 30
BLOCKS = ()


def numel_vs_bytes(a: torch.Tensor) -> tuple[int, int]:
    """(elements, bytes): numel() is the first."""
    return a.numel(), a.numel() * a.element_size()


def normal_std(std: float, n: int = 200_000) -> float:
    """The sample standard deviation of torch.normal(0, std): std, not sqrt(std)."""
    return torch.normal(0.0, std, size=(n,)).std().item()


def default_dtype_after(dtype: torch.dtype) -> torch.dtype:
    """The dtype of torch.rand() under set_default_dtype(dtype); restores the default after."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        return torch.rand(1).dtype
    finally:
        torch.set_default_dtype(old)


def table() -> dict[str, torch.Tensor]:
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    return {
        "torch.tensor([[1., 2.], [3., 4.]])": a,
        "torch.empty(2, 3) (uninitialised: shape only)": torch.empty(2, 3).shape,
        "torch.FloatTensor(2, 3) (uninitialised)": torch.FloatTensor(2, 3).shape,
        "torch.rand_like(a) == torch.rand(a.shape) in shape and dtype": torch.rand_like(a).shape,
        "torch.randint(0, 10, [2, 3]) (high excluded)": torch.randint(0, 10, [2, 3]),
        "torch.randn(2, 3)": torch.randn(2, 3),
        "torch.normal(mean=0., std=2., size=(4,))": torch.normal(0.0, 2.0, size=(4,)),
        "torch.full([2, 3], 7.)": torch.full([2, 3], 7.0),
        "torch.arange(0, 10, 2)": torch.arange(0, 10, 2),
        "torch.linspace(0, 10, steps=5) (5 points, 4 gaps)": torch.linspace(0, 10, steps=5),
        "torch.logspace(0, -1, steps=5) (base 10)": torch.logspace(0, -1, steps=5),
        "torch.logspace(0, 3, steps=4, base=2)": torch.logspace(0, 3, steps=4, base=2),
        "torch.eye(3)": torch.eye(3),
        "torch.randperm(5)": torch.randperm(5),
    }


def main() -> None:
    a = torch.rand(4, 1, 28, 28)
    show("a.type()", a.type())
    show("a.dim()", a.dim())
    show("a.numel() (elements), bytes", numel_vs_bytes(a))
    for label, value in table().items():
        show(label, value)
    show("torch.set_default_dtype(torch.float64); torch.rand(1).dtype", default_dtype_after(torch.float64))
    show("sample std of torch.normal(0, std=2.)", round(normal_std(2.0), 2))
