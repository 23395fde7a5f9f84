"""`python -m torchlab` is the same program as the `torchlab` command."""

from torchlab.cli import run

run()
