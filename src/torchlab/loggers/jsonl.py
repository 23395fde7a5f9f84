"""metrics.jsonl: one JSON object per event, appended and flushed; the run's source of truth."""

import json
import math
import time
from pathlib import Path
from typing import Any

from torchlab.config import Config
from torchlab.loggers import LOGGERS, Logger


@LOGGERS.register("jsonl")
class JSONLLogger(Logger):
    def __init__(self, run_dir: Path, config: Config) -> None:
        super().__init__(run_dir, config)
        self.file = (run_dir / "metrics.jsonl").open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        # JSON has no NaN: a diverged loss is written as null.
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        self.file.write(json.dumps({"time": round(time.time(), 3), **clean}) + "\n")
        self.file.flush()

    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int, event: str) -> None:
        self.write({"event": event, "epoch": epoch, "step": step, **metrics})

    def finish(self, summary: dict[str, Any]) -> None:
        self.write({"event": "finish", "status": summary.get("status")})
        self.file.close()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The records of a run's metrics.jsonl (a torn last line, from a kill, is skipped)."""
    records = []
    for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
