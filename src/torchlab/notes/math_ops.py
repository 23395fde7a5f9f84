"""Arithmetic: + - * /, mm, matmul (@), pow, sqrt, rsqrt, exp, log, floor/ceil/trunc/frac/round, clamp.

round() rounds halves to the nearest even number (0.5 -> 0, 2.5 -> 2), not "四舍五入" (half up).
`*` (torch.mul) is element-wise (Hadamard), not the 矩阵点乘 the notes call it; `@` is the matrix
product, batched over the leading dimensions. The operators stand for torch.add/sub/mul/div.
"""

import torch

from torchlab.notes import show

ORDER = 80
BLOCKS = ()


def rounding(x: torch.Tensor) -> dict[str, torch.Tensor]:
    return {
        "floor": x.floor(),
        "ceil": x.ceil(),
        "trunc": x.trunc(),
        "frac": x.frac(),
        "round": x.round(),
        "clamp(-1, 1)": x.clamp(-1, 1),
    }


def main() -> None:
    a, b = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.full((2, 2), 2.0)
    for op, value in {"a + b": a + b, "a - b": a - b, "a * b": a * b, "a / b": a / b}.items():
        show(op, value)
    show("torch.mm(a, b)", torch.mm(a, b))
    show("a @ b", a @ b)
    x, w = torch.rand(4, 3, 28, 64), torch.rand(4, 1, 64, 32)
    show("[4,3,28,64] @ [4,1,64,32] (broadcast over the first dims)", tuple((x @ w).shape))
    show("a.pow(2)", a.pow(2))
    show("a.sqrt()", a.sqrt())
    show("a.rsqrt()", a.rsqrt())
    show("torch.exp(torch.ones(2))", torch.exp(torch.ones(2)))
    show("torch.log(torch.exp(torch.ones(2)))", torch.log(torch.exp(torch.ones(2))))
    x = torch.tensor([-2.5, -0.5, 0.5, 1.5, 2.5, 3.14])
    show("x", x)
    for op, value in rounding(x).items():
        show(f"x.{op}", value)
