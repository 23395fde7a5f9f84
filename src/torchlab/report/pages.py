"""Self-contained HTML pages (images embedded as base64, no scripts, nothing fetched):
`report.html` for one run and a comparison page for several."""

import base64
import html
import io
import json
import shlex
from pathlib import Path
from typing import Any

import matplotlib
import yaml

from torchlab.config import flatten
from torchlab.core.errors import TorchlabError
from torchlab.core.files import atomic_write_text
from torchlab.recipes import load_recipe
from torchlab.report import save_figure
from torchlab.report.curves import curves_figure, run_series

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222 }
h1 { font-size: 1.5em } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd }
table { border-collapse: collapse } td, th { padding: .25em .8em; border-bottom: 1px solid #eee; text-align: left }
td.num { text-align: right; font-variant-numeric: tabular-nums }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto } img { max-width: 100%; display: block; margin: .8em 0 }
figure { margin: 0 } figcaption { color: #666; font-size: .9em }
"""


def page(title: str, body: str) -> str:
    title = html.escape(title)
    head = f'<meta charset="utf-8"><title>{title}</title><link rel="icon" href="data:,"><style>{STYLE}</style>'
    return f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head>\n<body>\n<h1>{title}</h1>\n{body}\n</body></html>\n'


def table(header: list[str] | None, rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f'<td class="num">{value:.4g}</td>'
        return f"<td>{html.escape('' if value is None else str(value))}</td>"

    head = f"<tr>{''.join(f'<th>{html.escape(h)}</th>' for h in header)}</tr>" if header else ""
    return f"<table>{head}" + "".join(f"<tr>{''.join(map(cell, row))}</tr>" for row in rows) + "</table>"


def png_tag(data: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def read_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(resolved config, summary) of a run directory; the summary is empty while a run has none."""
    if not (run_dir / "config.yaml").is_file():
        raise TorchlabError(f"{run_dir} is not a torchlab run directory (no config.yaml)")
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    summary_file = run_dir / "summary.json"
    return config, json.loads(summary_file.read_text(encoding="utf-8")) if summary_file.is_file() else {}


def reproduce_command(config: dict[str, Any]) -> str:
    """`torchlab train RECIPE KEY=VALUE...` with the keys where the run differs from its recipe."""
    recipe = config.get("recipe", "")
    try:
        base = flatten(load_recipe(recipe).to_dict())
    except TorchlabError:  # a recipe file that is gone, or renamed
        return "torchlab train RUN_DIR/config.yaml"
    overrides = [
        f"{key}={','.join(map(str, value)) if isinstance(value, list) else yaml.safe_dump(value).splitlines()[0]}"
        for key, value in flatten(config).items()
        if key not in ("recipe", "description") and base.get(key) != value
    ]
    return shlex.join(["torchlab", "train", recipe, *overrides])


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
        ["torch", summary.get("torch")],
    ]
    return rows


def write_run_report(run_dir: Path) -> Path:
    """RUN_DIR/report.html: summary, plots, the command that reproduces the run, the resolved config."""
    config, summary = read_run(run_dir)
    # Learning curves first: the one picture every run has.
    plots = sorted((run_dir / "plots").glob("*.png"), key=lambda p: (p.stem != "learning_curves", p.name))
    figures = "".join(
        f"<figure>{png_tag(p.read_bytes(), p.stem)}<figcaption>plots/{html.escape(p.name)}</figcaption></figure>"
        for p in plots
    )
    body = (
        f"<p>{html.escape(config.get('description', ''))}</p>"
        f"<h2>Summary</h2>{table(None, summary_rows(summary))}"
        f"<h2>Plots</h2>{figures or '<p>no plots</p>'}"
        f"<h2>Reproduce</h2><pre>{html.escape(reproduce_command(config))}</pre>"
        f"<p>or, exactly as resolved: <code>torchlab train {html.escape(str(run_dir / 'config.yaml'))}</code></p>"
        f"<h2>Config</h2><pre>{html.escape(yaml.safe_dump(config, sort_keys=False))}</pre>"
    )
    path = run_dir / "report.html"
    atomic_write_text(path, page(f"{config.get('recipe', run_dir.name)}: {run_dir}", body))
    return path


def short_names(run_dirs: list[Path]) -> list[str]:
    """The fewest trailing path parts that still tell the runs apart (`lr0.1`, `mnist-mlp/20260101-120000`)."""
    parts = [d.resolve().parts for d in run_dirs]
    for k in range(1, max(map(len, parts)) + 1):
        names = ["/".join(p[-k:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [str(d) for d in run_dirs]


def write_comparison(run_dirs: list[Path], out: Path) -> Path:
    """OUT/report.html: the config keys where the runs differ, their metrics, their curves overlaid."""
    if not run_dirs:
        raise TorchlabError("name at least one run directory to report on")
    run_dirs = list(dict.fromkeys(run_dirs))
    names = short_names(run_dirs)
    runs = {name: read_run(d) for name, d in zip(names, run_dirs, strict=True)}
    configs = {name: flatten(config) for name, (config, _) in runs.items()}
    keys = sorted({k for c in configs.values() for k in c} - {"description"})
    differ = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs.values()}) > 1]
    metric_keys = sorted(
        {f"{split}.{k}" for _, s in runs.values() for split in ("test", "val") for k in s.get(split, {})}
    )

    def metric(summary: dict[str, Any], key: str) -> Any:
        split, name = key.split(".", 1)
        return summary.get(split, {}).get(name)

    results = [
        [name, s.get("status"), *(metric(s, k) for k in metric_keys), s.get("epochs"), s.get("wall_seconds"), str(d)]
        for (name, (_, s)), d in zip(runs.items(), run_dirs, strict=True)
    ]
    matplotlib.use("Agg")  # files only, on any machine (as draw_figures does)
    fig = curves_figure({name: run_series(d) for name, d in zip(names, run_dirs, strict=True)}, "learning curves")
    buffer = io.BytesIO()
    save_figure(fig, buffer)
    differences = (
        table(["key", *names], [[k, *(configs[n].get(k) for n in names)] for k in differ])
        if differ
        else "<p>none: the runs share one config</p>"
    )
    body = (
        f"<h2>Results</h2>{table(['run', 'status', *metric_keys, 'epochs', 'wall s', 'directory'], results)}"
        f"<h2>Config keys that differ</h2>{differences}"
        f"<h2>Curves</h2>{png_tag(buffer.getvalue(), 'learning curves')}<p>dashed: train, solid: validation</p>"
    )
    path = out / "report.html"
    atomic_write_text(path, page(f"comparison of {len(names)} runs", body))
    return path
