"""Self-contained HTML pages (images embedded as base64, no scripts, nothing fetched):
`report.html` for one run and a comparison page for several."""

import base64
import html
import io
import json
import math
import os
import re
import shlex
import statistics
import urllib.parse
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml

from torchlab.config import flatten, parse_value
from torchlab.core.errors import TorchlabError
from torchlab.core.files import atomic_write_text
from torchlab.core.words import counted
from torchlab.loggers.hparams import changed_hyperparameters, is_hyperparameter, recipe_differences
from torchlab.report import save_figure

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222 }
h1 { font-size: 1.5em } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd }
table { border-collapse: collapse } td, th { padding: .25em .8em; border-bottom: 1px solid #eee; text-align: left }
td.num { text-align: right; font-variant-numeric: tabular-nums }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto } img { max-width: 100%; display: block; margin: .8em 0 }
figure { margin: 0 } figcaption { color: #666; font-size: .9em }
tr.marked td { background: #fff6d6 } a { color: #0b5cad } th, td:first-child { white-space: nowrap }
.text td:first-child { white-space: normal }
"""


def page(title: str, body: str) -> str:
    title = html.escape(title)
    head = f'<meta charset="utf-8"><title>{title}</title><link rel="icon" href="data:,"><style>{STYLE}</style>'
    return f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head>\n<body>\n<h1>{title}</h1>\n{body}\n</body></html>\n'


class Markup(str):
    """Table cell content that is HTML already (a link), written as it is."""


def table(header: list[str] | None, rows: list[list[Any]], marked: Collection[int] = ()) -> str:
    """An HTML table; the rows whose index is in `marked` stand out (the best run)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f'<td class="num">{value:.4g}</td>'
        if isinstance(value, Markup):
            return f"<td>{value}</td>"
        return f"<td>{html.escape('' if value is None else str(value))}</td>"

    head = f"<tr>{''.join(f'<th>{html.escape(h)}</th>' for h in header)}</tr>" if header else ""
    mark = ' class="marked"'
    body = "".join(f"<tr{mark if i in marked else ''}>{''.join(map(cell, row))}</tr>" for i, row in enumerate(rows))
    return f"<table>{head}{body}</table>"


def png_tag(data: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def read_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(resolved config, summary) of a run directory; the summary is empty while a run has none.
    A damaged config.yaml, summary.json or metrics.jsonl is a TorchlabError naming it."""
    import contextlib

    from torchlab.config import not_a_run, read_yaml

    if not (run_dir / "config.yaml").is_file():
        raise not_a_run(run_dir)
    config = read_yaml(run_dir / "config.yaml")  # a mapping, or a TorchlabError naming the file
    summary_file, summary = run_dir / "summary.json", {}
    try:
        if summary_file.is_file():
            summary = json.loads(summary_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # not UTF-8, not JSON
        raise TorchlabError(f"{summary_file} is damaged ({type(err).__name__}); delete it to draw the rest") from None
    if not isinstance(summary, dict):
        raise TorchlabError(f"{summary_file} is damaged (not a JSON object); delete it to draw the rest")
    metrics = run_dir / "metrics.jsonl"
    try:  # the curves read it: a torn line is skipped, any other line must be an event record
        lines = metrics.read_text(encoding="utf-8").splitlines() if metrics.is_file() else []
    except (OSError, ValueError) as err:
        raise TorchlabError(f"{metrics} is damaged ({type(err).__name__})") from None
    for number, line in enumerate(lines, 1):
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            needs = ("epoch", "step") if isinstance(record, dict) and record.get("event") in ("epoch", "step") else ()
            if not isinstance(record, dict) or not all(type(record.get(key)) is int for key in needs):
                raise TorchlabError(f"{metrics}, line {number}: not an event record of torchlab")
    return config, summary


def override_text(value: Any) -> str:
    """A value as `KEY=VALUE` takes it back: `0.9,0.999` for a flat list, YAML flow otherwise."""
    if isinstance(value, list) and len(value) > 1 and not any(isinstance(v, list | dict) for v in value):
        return ",".join(override_text(v) for v in value)
    if isinstance(value, str) and value and parse_value(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def reproduce_command(config: dict[str, Any], run_dir: Path | None = None) -> str:
    """`torchlab train RECIPE KEY=VALUE...` with exactly the hyper-parameters where the run differs from
    its recipe, as "This run changed" lists them (none for a default run; not where it logged or kept
    its data: `log.quiet`, `data.root`); a user's YAML by its path; a recipe file since gone, the run's
    config.yaml (which reproduces everything, as the page's next line says)."""
    differences = changed_hyperparameters(config)
    if differences is None:  # a user's YAML (or a recipe since renamed): the run's own file
        return f"torchlab train {shlex.quote(str(run_dir / 'config.yaml')) if run_dir else 'RUN_DIR/config.yaml'}"
    overrides = [f"{key}={override_text(value)}" for key, value in differences.items()]
    return shlex.join(["torchlab", "train", config.get("source") or config["recipe"], *overrides])


def summary_rows(summary: dict[str, Any]) -> list[list[Any]]:
    rate = summary.get("train_samples_per_second")
    rows = [
        ["status", summary.get("status", "no summary (interrupted?)")],
        ["epochs (best)", f"{summary.get('epochs')} ({summary.get('best_epoch')})"],
    ]
    rows += [[f"{split}.{k}", v] for split in ("test", "val") for k, v in summary.get(split, {}).items()]
    rows += [
        ["wall time", f"{summary.get('wall_seconds', 0):.1f} s"],
        ["train samples/s", f"{rate:,.0f}" if rate else None],
        ["device", summary.get("device")],
        ["seed", summary.get("seed")],
        ["threads", summary.get("threads")],
        ["torch", summary.get("torch")],
    ]
    return rows


def describe(config: dict[str, Any]) -> str:
    """The recipe's description, said to be the recipe's when the run changed its hyper-parameters
    (the changes named), so that the page never claims what the run did not do: a run of
    folder-resnet18 with `model.weights=none` learned from scratch, not from ImageNet."""
    description = html.escape(config.get("description", ""))
    changed = changed_hyperparameters(config) or {}
    if not changed:
        return f"<p>{description}</p>"
    model = config.get("model", {})
    scratch = "weights" in model and str(model["weights"]).lower() in ("none", "null")
    note = " <b>No transfer learning</b> here: model.weights=none, the network started from random weights."
    listed = html.escape(", ".join(f"{k}={override_text(v)}" for k, v in changed.items()))
    recipe = html.escape(config.get("recipe", ""))
    return f"<p>The recipe {recipe}: {description}.{note if scratch else ''}</p><p>This run changed {listed}.</p>"


def write_run_report(run_dir: Path) -> Path:
    """RUN_DIR/report.html: summary, plots (and the tables figures write as plots/*.md), the command
    that reproduces the run, the resolved config."""
    config, summary = read_run(run_dir)
    # Learning curves first: the one picture every run has.
    plots = sorted((run_dir / "plots").glob("*.png"), key=lambda p: (p.stem != "learning_curves", p.name))
    figures = "".join(
        f"<figure>{png_tag(p.read_bytes(), p.stem)}<figcaption>plots/{html.escape(p.name)}</figcaption></figure>"
        for p in plots
    )
    body = (
        f"{describe(config)}<h2>Summary</h2>{table(None, summary_rows(summary))}"
        f"<h2>Plots</h2>{figures or '<p>no plots</p>'}{markdown_tables(run_dir / 'plots')}"
        f"<h2>Reproduce</h2><pre>{html.escape(reproduce_command(config, run_dir))}</pre>"
        f"<p>or, exactly as resolved: <code>torchlab train {html.escape(str(run_dir / 'config.yaml'))}</code></p>"
        f"<h2>Config</h2><pre>{html.escape(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))}</pre>"
    )
    path = run_dir / "report.html"
    atomic_write_text(path, page(f"{config.get('recipe', run_dir.name)}: {run_dir}", body))
    return path


def markdown_tables(plots_dir: Path) -> str:
    """Each plots/NAME.md under a heading of its name, as HTML (`markdown_html`)."""
    return "".join(
        f"<h2>{html.escape(p.stem.replace('_', ' ').capitalize())}</h2>"
        f"{markdown_html(p.read_text(encoding='utf-8', errors='replace'))}"
        for p in sorted(plots_dir.glob("*.md"))
    )


def markdown_html(text: str) -> str:
    """The Markdown a figure writes (lines of text, pipe tables) as HTML: a paragraph per line, a table
    per run of `| ... |` lines (the first its header, the `---` line under it dropped); all escaped."""
    parts: list[str] = []
    rows: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            rows.append(markdown_cells(line))
            continue
        if rows:
            parts.append(f'<div class="text">{table(rows[0], rows[2:])}</div>')
            rows = []
        if line.strip():
            parts.append(f"<p>{html.escape(line)}</p>")
    return "".join(parts)


def markdown_cells(line: str) -> list[str]:
    """The cells of a Markdown table line `| a | b \\| c |`: ['a', 'b | c']."""
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip()[1:-1])]


def short_names(run_dirs: list[Path]) -> list[str]:
    """The fewest trailing path parts that still tell the runs apart (`lr0.1`, `mnist-mlp/20260101-120000`)."""
    parts = [d.resolve().parts for d in run_dirs]
    for k in range(1, max(map(len, parts)) + 1):
        names = ["/".join(p[-k:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [str(d) for d in run_dirs]


def monitored(summary: dict[str, Any], monitor: str) -> float | None:
    """A run's best value of `monitor` (`val.accuracy`): its summary's, else its best epoch's."""
    recorded = summary.get("monitor") or {}
    value = recorded.get("best") if recorded.get("metric") == monitor else None
    if value is None:
        split, _, name = monitor.partition(".")
        value = (summary.get(split) or {}).get(name)
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def link(target: Path, text: str, base: Path) -> Markup:
    """A link from a page in `base` to `target`, relative, so that the page moves with the runs."""
    href = urllib.parse.quote(os.path.relpath(target.resolve(), base.resolve()))
    return Markup(f'<a href="{html.escape(href)}">{html.escape(text)}</a>')


def overlaid_curves(run_dirs: dict[str, Path], title: str) -> bytes:
    """The runs' learning curves in one PNG. Matplotlib is imported here, not with this module:
    every `torchlab train` imports this module, and its start-up should not pay for plotting."""
    from torchlab.report.curves import curves_figure, run_series

    buffer = io.BytesIO()
    save_figure(curves_figure({name: run_series(d) for name, d in run_dirs.items()}, title), buffer)
    return buffer.getvalue()


def refuse_repeated(run_dirs: list[Path]) -> None:
    """A run named twice (`report r1 r1`, or r1 and its absolute path or a link to it) is refused: the
    other name was likely meant to be another run. The same spelling was dropped in silence, and
    two spellings were compared as two runs, the page ranking a run against itself."""
    seen: dict[Path, Path] = {}
    for run_dir in run_dirs:
        if (first := seen.get(run_dir.resolve())) is not None:
            also = "" if first == run_dir else f" (as {first} and as {run_dir})"
            raise TorchlabError(f"{first} is named twice{also}: a comparison takes each run once")
        seen[run_dir.resolve()] = run_dir


def write_comparison(run_dirs: list[Path], out: Path) -> Path:
    """OUT/report.html: the runs sorted by the recipe's monitored metric, the best marked, each linked
    to its report; the hyper-parameters where they differ; their curves overlaid."""
    if not run_dirs:
        raise TorchlabError("name at least one run directory to report on")
    refuse_repeated(run_dirs)
    loaded = {name: (d, *read_run(d)) for name, d in zip(short_names(run_dirs), run_dirs, strict=True)}

    # The monitored metric and its direction that most runs name; only runs of the same task on the
    # same dataset are ranked by it (a forecaster's val.loss is not a classifier's).
    def measure(config: dict[str, Any]) -> tuple[Any, ...]:
        train = config.get("train", {})
        return (
            train.get("monitor"),
            train.get("mode"),
            config.get("data", {}).get("name"),
            config.get("task", {}).get("name"),
        )

    measures = {name: measure(c) for name, (_, c, _) in loaded.items()}
    monitor, mode, data_name, task_name = statistics.mode(measures.values())
    ranked = {name for name, m in measures.items() if m == (monitor, mode, data_name, task_name)}
    value = {name: monitored(s, monitor) if monitor and name in ranked else None for name, (_, _, s) in loaded.items()}

    def rank(name: str) -> tuple[bool, float]:  # best first; runs without the metric last
        v = value[name]
        return (v is None, 0.0 if v is None else v if mode == "min" else -v)

    names = sorted(loaded, key=rank)
    best = names[0] if value[names[0]] is not None else None
    configs = {name: flatten(loaded[name][1]) for name in names}
    keys = sorted({k for c in configs.values() for k in c if is_hyperparameter(k)})
    differ = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs.values()}) > 1]
    metric_keys = sorted(
        {f"{split}.{k}" for _, _, s in loaded.values() for split in ("test", "val") for k in s.get(split, {})}
    )
    if monitor in metric_keys:  # the metric the runs are sorted by comes first
        metric_keys.remove(monitor)
        metric_keys.insert(0, monitor)

    def metric(summary: dict[str, Any], key: str) -> Any:
        split, name = key.split(".", 1)
        return summary.get(split, {}).get(name)

    def report(name: str) -> Any:
        run_dir = loaded[name][0]
        return link(run_dir / "report.html", "report", out) if (run_dir / "report.html").is_file() else None

    results = [
        [
            Markup(f"<b>{html.escape(name)}</b> ★ best") if name == best else name,
            report(name),
            s.get("status"),
            *(metric(s, k) for k in metric_keys),
            s.get("epochs"),
            s.get("wall_seconds"),
            str(d),
        ]
        for name in names
        for d, _, s in [loaded[name]]
    ]
    curves = overlaid_curves({name: loaded[name][0] for name in names}, "learning curves")
    differences = (
        table(["key", *names], [[k, *(configs[n].get(k) for n in names)] for k in differ])
        if differ
        else "<p>none: the runs share their hyper-parameters</p>"
    )
    order = f"sorted by {monitor} ({'lowest' if mode == 'min' else 'highest'} first), the best marked ★" if best else ""
    if best and len(ranked) < len(loaded):
        order += f"; runs of another task or dataset than {task_name} on {data_name} are listed last, unranked"
    header = ["run", "", "status", *metric_keys, "epochs", "wall s", "directory"]
    body = (
        f"<h2>Results</h2><p>{html.escape(order)}</p>{table(header, results, marked={0} if best else ())}"
        f"<h2>Hyper-parameters that differ</h2>{differences}"
        f"<h2>Curves</h2>{png_tag(curves, 'learning curves')}<p>dashed: train, solid: validation</p>"
    )
    path = out / "report.html"
    atomic_write_text(path, page(f"comparison of {counted(len(names), 'run')}", body))
    return path


def write_cv_page(summary: dict[str, Any], parent: Path) -> Path:
    """PARENT/report.html of a cross-validation (`summary`: cv_summary.json): each fold's metrics,
    linked to its report; the mean ± sample standard deviation of each; the folds' curves overlaid."""
    fold_dirs = [Path(d) for d in summary["run_dirs"]]
    names = [f"fold {k}" for k in range(len(fold_dirs))]
    metric_keys = [f"{part}.{m}" for part in ("val", "test") for m in summary[part]]

    def value(key: str, fold: int) -> Any:
        part, metric = key.split(".", 1)
        return summary[part][metric]["folds"][fold]

    rows = []
    for k, (name, run_dir) in enumerate(zip(names, fold_dirs, strict=True)):
        report = link(run_dir / "report.html", "report", parent) if (run_dir / "report.html").is_file() else None
        status = read_run(run_dir)[1].get("status") if (run_dir / "config.yaml").is_file() else None
        epochs = f"{summary['epochs'][k]} (best {summary['best_epochs'][k]})"
        rows.append([name, report, status, *(value(key, k) for key in metric_keys), epochs])
    spread = [
        f"{summary[part][m]['mean']:.4g} ± {summary[part][m]['std']:.4g}"
        for part in ("val", "test")
        for m in summary[part]
    ]
    rows.append([Markup("<b>mean ± std</b>"), None, None, *spread, None])
    curves = overlaid_curves(dict(zip(names, fold_dirs, strict=True)), "learning curves of every fold")
    config = read_run(fold_dirs[0])[0] if fold_dirs and (fold_dirs[0] / "config.yaml").is_file() else {}
    folds = summary["folds"]
    body = (
        f"<p>{html.escape(config.get('description', ''))}</p>"
        f"<p>{folds} folds of the training set: each fold trains on the other {counted(folds - 1, 'part')}, "
        "validates on its own (its best epoch's metrics) and tests its best model on the test set. Standard "
        "deviations are the sample's (n − 1).</p>"
        f"<h2>Folds</h2>{table(['fold', '', 'status', *metric_keys, 'epochs'], rows, marked={len(rows) - 1})}"
        f"<h2>Curves</h2>{png_tag(curves, 'learning curves of every fold')}"
        "<p>a colour per fold; dashed: train, solid: validation</p>"
        f"<h2>Reproduce</h2><pre>{html.escape(reproduce_cv(config, folds, parent))}</pre>"
    )
    path = parent / "report.html"
    atomic_write_text(path, page(f"{summary['recipe']}: {folds}-fold cross-validation", body))
    return path


def reproduce_cv(config: dict[str, Any], folds: int, parent: Path, every_key: bool = False) -> str:
    """`torchlab cv RECIPE --folds K KEY=VALUE...`: a fold's hyper-parameters that differ from the recipe,
    but its fold; with `every_key`, every key that differs (`log.*`, `data.root`: the command that
    continues a stopped cross-validation must give the very config its folds hold)."""
    fold_keys = ("data.folds", "data.fold")
    differences = (recipe_differences if every_key else changed_hyperparameters)(config) if config else None
    if differences is None:
        return f"torchlab cv {shlex.quote(str(parent / 'fold-0' / 'config.yaml'))} --folds {folds}"
    overrides = [f"{k}={override_text(v)}" for k, v in differences.items() if k not in fold_keys]
    return shlex.join(["torchlab", "cv", config.get("source") or config["recipe"], "--folds", str(folds), *overrides])
