"""torchlab: the classic deep-learning recipes of a PyTorch study notebook, trained for real.

From Python (README, "From Python"):

    import torchlab
    run = torchlab.train("mnist-mlp", train__epochs=2)   # a recipe -> Run
    run = torchlab.load("runs/mnist-mlp/...")            # a run directory -> Run
    run = torchlab.fit(MyNet, (x, y), test=(xt, yt))     # your nn.Module (class or instance), data -> Run
    run.predict(xt), run.evaluate(xt, yt)                # the best weights' outputs, and their test figures

`import torchlab` stays fast: torch is imported when one of these is first used.
"""

from typing import TYPE_CHECKING, Any

from torchlab.core.errors import TorchlabError  # what every refusal raises: `except torchlab.TorchlabError`

__version__ = "0.1.0"
__all__ = ["Run", "TorchlabError", "fit", "load", "resume", "train"]

if TYPE_CHECKING:
    from torchlab.runs import Run, fit, load, resume, train


def __getattr__(name: str) -> Any:
    if name in __all__:  # TorchlabError aside, imported above
        from torchlab import runs  # here, not above: the command line's `list` and `--help` need no torch

        return getattr(runs, name)
    raise AttributeError(f"module 'torchlab' has no attribute {name!r}")
