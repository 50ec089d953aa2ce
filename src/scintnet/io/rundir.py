"""The run folder of a training and its evaluations: file names and where an evaluation is found.

A training run folder holds ``run.json`` (config, data files as absolute paths, the training detector,
summary), ``model.pt`` (best weights), ``checkpoint.pt`` (resume state) and, by default, the evaluation
folder ``eval/`` (``scores.h5``, ``evaluation.json``, plots).  ``evaluate --out ELSEWHERE`` records
``ELSEWHERE`` in the run's ``evaluations.json``, so that ``sensitivity``, ``fit --scores`` and ``report``
given the run folder find it (:func:`find_evaluation`).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from ..errors import ScintnetError

RUN_JSON = "run.json"
MODEL = "model.pt"
CHECKPOINT = "checkpoint.pt"
EVAL_DIR = "eval"
SCORES = "scores.h5"
EVALUATION = "evaluation.json"
EVALUATIONS = "evaluations.json"
METRICS = "metrics.csv"  # per-epoch training metrics (one row per epoch)


class RunDirError(ScintnetError):
    """A run or evaluation folder that is missing what a command needs (the message says what to run)."""


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` under a temporary name, then rename (never a half-written file)."""
    from .outputs import write_text_atomic

    return write_text_atomic(path, json.dumps(obj, indent=2))


def _read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise RunDirError(f"{path} not found ({what})")
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{path}: unreadable ({' '.join(str(exc).split())[:120]})") from None
    if not isinstance(d, dict):
        raise RunDirError(f"{path}: not a JSON object")
    return d


def read_run_json(run_dir: str | Path) -> dict[str, Any]:
    """The ``run.json`` of a training run folder (config under ``run_config``, ``params``, summary)."""
    d = _read_json(Path(run_dir) / RUN_JSON, "not a training run folder: train one with `scintnet train`")
    if "run_config" not in d:
        raise RunDirError(f"{Path(run_dir) / RUN_JSON}: no 'run_config' (not written by `scintnet train`)")
    return d


def read_evaluation(path: str | Path) -> dict[str, Any]:
    """``evaluation.json`` of an evaluation folder, of a run's recorded evaluation, or the file itself."""
    p = Path(path)
    if not (p.is_file() and p.suffix == ".json"):
        p = find_evaluation(p) / EVALUATION
    return _read_json(p, "run `scintnet evaluate` first")


def read_metrics(run_dir: str | Path) -> list[dict[str, str]]:
    """Rows of a run's ``metrics.csv`` (one per epoch; values as the CSV holds them)."""
    import csv

    p = Path(run_dir) / METRICS
    if not p.is_file():
        raise RunDirError(f"{p} not found (not a training run folder, or it has not finished an epoch)")
    with open(p, newline="") as f:
        return list(csv.DictReader(f))


def detector_fingerprint(detector: dict[str, Any]) -> str:
    """SHA-256 of a detector config without its name and description: equal physics, equal fingerprint
    (rebuilt through the config loader first, so retired fields and list/tuple spellings do not count)."""
    from ..config import ConfigError
    from ..detector.config import config_from_dict

    try:
        detector = config_from_dict(dict(detector)).to_dict()
    except ConfigError:
        pass
    d = {k: v for k, v in detector.items() if k not in ("name", "description")}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def record_evaluation(run_dir: str | Path, eval_dir: str | Path) -> None:
    """Add ``eval_dir`` (absolute) to ``run_dir/evaluations.json``, newest last."""
    run_dir, eval_dir = Path(run_dir), Path(eval_dir).resolve()
    if not run_dir.is_dir():
        return
    p = run_dir / EVALUATIONS
    try:
        items = json.loads(p.read_text()) if p.exists() else []
        if not isinstance(items, list):
            items = []
    except (OSError, ValueError):
        items = []
    items = [i for i in items if isinstance(i, dict) and i.get("path") != str(eval_dir)]
    items.append({"path": str(eval_dir), "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    write_json_atomic(p, items)


def find_evaluation(path: str | Path) -> Path:
    """The evaluation folder for ``path``: a ``scores.h5`` / ``evaluation.json`` file, an evaluation
    folder, or a run folder (its ``eval/``, else the newest evaluation recorded in ``evaluations.json``)."""
    p = Path(path)
    if p.is_file():
        return p.parent
    if not p.exists():
        raise RunDirError(f"{p}: no such run or evaluation folder")
    if (p / SCORES).exists():
        return p
    if (p / EVAL_DIR / SCORES).exists():
        return p / EVAL_DIR
    rec = p / EVALUATIONS
    if rec.exists():
        try:
            items = json.loads(rec.read_text())
        except (OSError, ValueError):
            items = []
        for it in reversed(items if isinstance(items, list) else []):
            q = it.get("path") if isinstance(it, dict) else None
            if isinstance(q, str) and q and (Path(q) / SCORES).exists():
                return Path(q)
        raise RunDirError(f"{p}: the evaluations recorded in {EVALUATIONS} are gone; rerun `scintnet evaluate`")
    hint = "run `scintnet evaluate` first" if (p / RUN_JSON).exists() else "not a run or evaluation folder"
    raise RunDirError(f"{p}: no evaluation found ({SCORES} in {p}/{EVAL_DIR} or a recorded --out); {hint}, "
                      "or pass the evaluation folder")


def scores_file(path: str | Path) -> Path:
    """``scores.h5`` of :func:`find_evaluation` (``path`` may also be the file itself)."""
    p = Path(path)
    if p.suffix == ".h5":
        if not p.exists():
            raise RunDirError(f"scores file {p} not found (run `scintnet evaluate` first)")
        return p
    return find_evaluation(p) / SCORES
