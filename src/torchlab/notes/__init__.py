"""The notes, runnable: one module per section of the notes (../shared/notes/pytorch-notes.md).

Each section module has a docstring (its first line is the title), `BLOCKS` (the headings of the
notes' code blocks it stands for) and `main()`, which prints what the section shows. Its other
functions return the facts that tests/test_notes.py asserts: what the notes state, or the truth
where they are wrong (docs/corrections.md).

`run(SECTION)` prints the notes' own heading, quotes the notes' lines the section runs (their line
ranges: notes/_headings.py), then the section's corrected code and what its main() prints;
`run(SECTION, code_only=True)` the code alone. The module's docstring says what it changes from the
notes' lines, and why. A section saves pictures through `picture(filename)`, under
runs/notes/SECTION/ unless told otherwise. Sections on the real
MNIST (notes/_mnist.py) check for it first: missing files are a TorchlabError naming them (exit 2).
"""

import importlib
import inspect
import os
import pkgutil
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from torchlab.core.errors import TorchlabError, did_you_mean
from torchlab.core.files import check_output_folder


def sections() -> dict[str, ModuleType]:
    """Every section module by name, in the notes' order (each module's `ORDER`)."""
    found = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_")
    ]
    return {m.__name__.rsplit(".", 1)[1]: m for m in sorted(found, key=lambda m: m.ORDER)}


def title(module: ModuleType) -> str:
    return (module.__doc__ or "").strip().splitlines()[0]


NOTES_FILE = "../shared/notes/pytorch-notes.md"  # as a user reads it: beside the repository
NOTES_PATH = Path(__file__).resolve().parents[3].parent / "shared" / "notes" / "pytorch-notes.md"
NOTES_TAB = 4  # the notes' tab width: line 370's tab, after 8 spaces, lines up with line 371's 12
_pictures: list[Path] = []  # the folder of the section now running, while it runs


def heading(name: str) -> str:
    """The notes' own heading(s) of a section and their line numbers in the notes."""
    from torchlab.notes._headings import HEADINGS

    parts = [f"{text} ({_lines(first, last)})" for text, first, last in HEADINGS.get(name, [])]
    return f"{'; '.join(parts) or '(no heading of its own)'} in {NOTES_FILE}"


def _lines(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}-{last}"


def quote(name: str) -> str:
    """The notes' own lines that a section runs, numbered as in the notes, mistakes included.

    Blank lines are left out, pictures (absent from the notes' file) shortened to their name and tabs
    expanded to the notes' 4 columns: a raw tab after the line number's prefix would land on the
    terminal's next stop of 8, out of line with the spaces of the lines around it.
    Where the notes cannot be read beside the repository, one line says so: the section still runs."""
    from torchlab.notes._headings import HEADINGS

    try:
        lines = NOTES_PATH.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        return f"(the notes' lines cannot be shown: {NOTES_PATH}: {getattr(err, 'strerror', None) or err})\n"
    quoted = [
        f"{number:>5} | {_picture_names(lines[number - 1].expandtabs(NOTES_TAB))}"
        for _, first, last in HEADINGS.get(name, [])
        for number in range(first, min(last, len(lines)) + 1)
        if lines[number - 1].strip()
    ]
    return "\n".join(quoted) + "\n"


def _picture_names(line: str) -> str:
    """`<img ... alt="MLP-1" ...>` and `![LSTM-2](F:\\...)` become `[picture: MLP-1]`."""
    line = re.sub(r'<img [^>]*alt="([^"]*)"[^>]*>', r"[picture: \1]", line)
    return re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"[picture: \1] ", line).rstrip()


RUN_ALONE = """

if __name__ == "__main__":  # what `torchlab notes` does around the section: the seed, then main()
    import torch

    torch.manual_seed(0)
    main()
"""


def code(name: str) -> str:
    """The corrected code a section runs: its module's source, then the lines that run it as `run`
    does, so that the printed file, saved and run with python, prints what the section printed."""
    return inspect.getsource(sections()[name]) + RUN_ALONE


def picture(filename: str) -> Path:
    """Where a running section saves a picture: PICTURES_DIR/SECTION/filename (folder created).

    Outside `run` (a section's main() called directly) the pictures go to PICTURES_DIR itself."""
    folder = _pictures[0] if _pictures else pictures_dir()
    check_output_folder(folder, "--pictures")  # a file there, or a folder not writable: one line, exit 2
    folder.mkdir(parents=True, exist_ok=True)
    return folder / filename


def pictures_dir() -> Path:
    """$TORCHLAB_NOTES_PICTURES, else runs/notes (relative to the working directory); set empty, it is unset,
    as $TORCHLAB_DATA is (its "" was the working directory itself)."""
    return Path(os.environ.get("TORCHLAB_NOTES_PICTURES") or "runs/notes")


def run(name: str, code_only: bool = False, pictures: Path | None = None, data_dir: str | None = None) -> None:
    """Print a section: the notes' heading, their lines quoted, the corrected code, then what it printed.

    `code_only` prints the code alone. Pictures go under `pictures` (default
    $TORCHLAB_NOTES_PICTURES, else runs/notes/SECTION); MNIST under `data_dir` (default the data root).
    An unknown name is a TorchlabError with a suggestion.
    """
    found = sections()
    if name not in found:
        raise TorchlabError(f"unknown notes section '{name}'{did_you_mean(name, found)}; see `torchlab notes`")
    if code_only:
        print(code(name), end="")
        return
    from torchlab.notes import _mnist

    _mnist.data_dir = data_dir
    reads_mnist = getattr(found[name], "mnist", None) is _mnist.mnist
    if reads_mnist:  # a section on the real MNIST: data first
        _mnist.check()
    print(f"# the notes: {heading(name)}")
    print(f"# torchlab notes {name}: {title(found[name])}")
    print("# the notes' own lines, as they stand (what differs below, and why, is in the code's docstring):\n")
    print(quote(name))
    print(f"# the corrected code it runs (src/torchlab/notes/{name}.py):\n")
    print(code(name))
    print("# what it printed:\n")
    folder = pictures or pictures_dir() / name
    _pictures[:] = [folder]
    try:
        torch.manual_seed(0)
        found[name].main()
    finally:
        _pictures.clear()
    if folder.is_dir() and any(folder.iterdir()):
        print(f"\npictures saved under {folder}/: {', '.join(sorted(p.name for p in folder.iterdir()))}")
    elif pictures is not None:  # asked for, so said: else a learner looks for a folder that never came
        print(f"\nthis section draws no pictures: nothing saved under {folder}")
    if data_dir is not None and not reads_mnist:
        print(f"this section reads no dataset: --data-dir {data_dir} was not used")


def show(label: str, value: Any) -> None:
    """Print one fact: a label, then the value (tensors on their own lines)."""
    if isinstance(value, torch.Tensor) and value.dim() > 1:
        print(f"{label}:\n{value}")
    else:
        print(f"{label}: {value}")
