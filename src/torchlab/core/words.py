"""Words of the messages, titles and pages: a count with its noun in the right number."""


def counted(n: int, noun: str, plural: str = "") -> str:
    """`n` and `noun`, plural unless `n` is one: `counted(1, "epoch")` is "1 epoch", `counted(3, "epoch")`
    "3 epochs", `counted(2, "process", "processes")` "2 processes"; thousands separated (12,000)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
