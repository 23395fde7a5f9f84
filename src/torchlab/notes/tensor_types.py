"""Tensor types: which tensor type each Python value becomes.

The notes' table says a Python int (and an int list) becomes an IntTensor; torch.tensor() in fact
gives a LongTensor (int64). Floats give FloatTensor (float32, the default dtype). A bool, a row
the table lacks, gives a BoolTensor.
"""

import torch

from torchlab.notes import show

ORDER = 10
BLOCKS = ()

VALUES = {"int": 1, "float": 1.0, "int array": [1, 2], "float array": [1.0, 2.0], "bool": True}


def tensor_types() -> dict[str, str]:
    """Python kind -> the type() of torch.tensor(value)."""
    return {kind: torch.tensor(value).type() for kind, value in VALUES.items()}


def main() -> None:
    for kind, name in tensor_types().items():
        show(f"torch.tensor({VALUES[kind]!r}) [{kind}]", name)
    show("a string has no tensor type; words become indices into an embedding", "see `torchlab notes embedding`")
