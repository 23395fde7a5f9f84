"""A text classifier's mistakes: the test sentences it got wrong with the most confidence, as a
Markdown table (sentence, true, predicted, confidence) in plots/misclassified_sentences.md, which
report.html shows. The text counterpart of classify.py's grid of misclassified images, drawn from
the same test outputs (`labels`, `predicted`, `confidence`), with no plotting.

A sentence is shown as the test file wrote it (the loader's batches hold it); data that keep only
token ids show them read back through the vocabulary (lower case, `<unk>` for each word it lacks)."""

from pathlib import Path
from typing import TYPE_CHECKING

from torchlab.core.files import atomic_write_text
from torchlab.core.words import counted
from torchlab.data.text import sentences_of
from torchlab.report import FinishedRun, figure

if TYPE_CHECKING:
    import torch

SHOWN = 8  # mistakes listed
HEADER = ["sentence", "true", "predicted", "confidence"]


def sentences_at(run: FinishedRun, indices: list[int]) -> dict[int, str]:
    """The test sentences at `indices` (positions in the test set), read from the test loader in order."""
    vocab, found, start = run.info.vocab or [], {}, 0
    for batch in run.test_loader():
        sentences = sentences_of(batch, vocab)
        found.update({i: sentences[i - start] for i in indices if start <= i < start + len(sentences)})
        start += len(sentences)
        if start > max(indices, default=-1):
            break
    return found


def cell(text: str) -> str:
    """Text that stays in its Markdown table cell: a `|` of the sentence escaped."""
    return text.replace("|", "\\|")


def class_name(run: FinishedRun, k: "torch.Tensor | int") -> str:
    names = run.info.class_names
    return names[int(k)] if names else str(int(k))


def markdown_table(rows: list[list[str]]) -> str:
    """HEADER and `rows` as a Markdown table, its columns padded to line up in plain text too."""
    widths = [max(len(h), *(len(r[c]) for r in rows)) for c, h in enumerate(HEADER)]
    lines = [HEADER, ["-" * w for w in widths], *rows]
    return "\n".join("| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |" for r in lines)


def mistakes_table(run: FinishedRun, shown: int = SHOWN) -> str:
    """A line that counts the mistakes, then a Markdown table of the `shown` most confident ones."""
    labels, predicted, confidence = (run.test[k] for k in ("labels", "predicted", "confidence"))
    wrong = (labels != predicted).nonzero().flatten()
    picked = wrong[confidence[wrong].float().argsort(descending=True, stable=True)][:shown].tolist()
    head = f"{run.config.recipe}: {len(wrong)} of {counted(len(labels), 'test sentence')} misclassified"
    if not picked:
        return head + ".\n"
    sentences = sentences_at(run, picked)
    rows = [
        [cell(sentences[i]), class_name(run, labels[i]), class_name(run, predicted[i]), f"{confidence[i]:.1%}"]
        for i in picked
    ]
    return f"{head}; the {counted(len(picked), 'most confident mistake')}:\n\n{markdown_table(rows)}\n"


@figure("misclassified-sentences", text=True, reads=("labels", "predicted", "confidence"))
def misclassified_sentences(run: FinishedRun, plots_dir: Path) -> None:
    atomic_write_text(plots_dir / "misclassified_sentences.md", mistakes_table(run))
