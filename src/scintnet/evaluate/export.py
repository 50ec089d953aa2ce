"""``scintnet export``: ONNX export of a trained run, checked against onnxruntime on real events."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io.outputs import atomic_path
from ..train.harness import TrainError, load_run


def export_onnx(run_dir: str | Path, out: str | Path, data: list[str] | None = None, n_check: int = 256,
                opset: int = 17) -> dict[str, Any]:
    """Write ``out`` (atomically) and compare onnxruntime with PyTorch on up to ``n_check`` events."""
    import onnxruntime as ort

    from ..features.dataset import Selection, load_event_set

    trained = load_run(run_dir)
    model, meta, rep = trained.model, trained.meta, trained.representation
    rc = meta["run_config"]
    files = list(data) if data else list(rc["signal"]) + list(rc["background"])
    missing = [f for f in files if not Path(f).exists()]
    if missing:  # runs of older versions stored the paths as given, relative to where they were trained
        raise TrainError(f"training file {missing[0]} not found from {Path.cwd()}; pass --data FILE")
    sel = Selection(e_min_MeV=rc["e_min_MeV"], e_max_MeV=rc["e_max_MeV"], r_max_mm=rc["r_max_mm"])
    ev = load_event_set(files, selection=sel, max_events=n_check, seed=0, log=lambda m: None)
    idx = np.arange(min(n_check, len(ev)))
    inputs = rep(ev, idx)
    names = list(inputs)
    out = Path(out)
    example = tuple(v[:2] for v in inputs.values())
    with atomic_path(out) as tmp:
        torch.onnx.export(model, example, str(tmp), dynamo=False, input_names=names, output_names=["logit"],
                          dynamic_axes={**{n: {0: "batch"} for n in names}, "logit": {0: "batch"}},
                          opset_version=opset)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    feed = {n: v.numpy() for n, v in inputs.items()}
    t = time.perf_counter()
    y_ort = sess.run(None, feed)[0]
    dt = time.perf_counter() - t
    with torch.no_grad():
        y_pt = model(*inputs.values()).numpy()
    diff = np.abs(y_ort - y_pt)
    return {"onnx": str(out), "model": rc["model"], "preset": rc["preset"], "n_events_checked": int(idx.size),
            "max_abs_diff_logit": float(diff.max()), "max_abs_diff_score": float(
                np.abs(1 / (1 + np.exp(-y_ort)) - 1 / (1 + np.exp(-y_pt))).max()),
            "onnxruntime_events_per_s": float(idx.size / dt), "opset": opset}
