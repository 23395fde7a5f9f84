"""torchlab: the classic deep-learning recipes of a PyTorch study notebook, trained for real."""

__version__ = "0.1.0"
