"""CLI commands for reconstruction and network inputs (reco, calibrate-energy, validate-reco, bench features)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._common import _fail, _load_cfg, _print_json, err, out

app = typer.Typer()
bench_app = typer.Typer()


@app.command("reco")
def reco_cmd(
    in_path: Path = typer.Argument(..., help="input event file"),
    out_path: Path = typer.Option(..., "--out", "-o", help="output file (input + /reco); may equal the input"),
    chunk_events: int = typer.Option(5000, "--chunk-events", min=1, help="events per chunk (resume granularity)"),
    recalibrate: bool = typer.Option(False, "--recalibrate", help="regenerate the energy calibration first"),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="worker processes for a calibration run"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing --out file (other than the input)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Add reconstructed vertex, energy, T0 and a valid flag per event (resumable: re-run after a kill)."""
    from ..executor import progress_bar

    from ..detector.config import ConfigError
    from ..detector.pmts import build_pmt_array
    from ..io.store import EventFile, EventFileError
    from ..reco.calibrate import load_or_make_calibration
    from ..reco.pipeline import Reconstructor
    from ..reco.store import reco_file

    from ..io.outputs import check_output

    log = (lambda m: err.print(m, highlight=False)) if not as_json else None
    try:
        same = out_path.exists() and in_path.exists() and out_path.resolve() == in_path.resolve()
        check_output(out_path, overwrite=overwrite or same)  # before the calibration is made
        with EventFile(in_path) as f:
            cfg = f.detector_config()
            n = f.n_events
        cal = load_or_make_calibration(cfg, force=recalibrate, workers=workers, log=log)
        rec = Reconstructor(cfg, build_pmt_array(cfg), cal)
        with progress_bar(total=n, unit="ev", desc="reco", enabled=not as_json) as bar:
            res = reco_file(in_path, out_path, rec, chunk_events, log=log, progress=bar.update,
                            overwrite=overwrite)
    except (EventFileError, ConfigError, ValueError, OSError) as exc:
        _fail(str(exc))
    if as_json:
        _print_json(res)
    else:
        out.print(f"wrote {out_path}: {res['summary']}", highlight=False)

@app.command("calibrate-energy")
def calibrate_cmd(
    preset: str = typer.Option("klz800", "--preset", "-p"), config: Optional[Path] = typer.Option(None, "--config"),
    overrides: Optional[list[str]] = typer.Option(None, "--set"),
    force: bool = typer.Option(False, "--force", help="regenerate even when a cached calibration exists"),
    workers: int = typer.Option(1, "--workers", "-j", min=1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Make (or show) the cached energy calibration of a detector configuration."""
    import json

    from ..reco.calibrate import calibration_path, load_or_make_calibration

    cfg = _load_cfg(preset, config, overrides)
    cal = load_or_make_calibration(cfg, force=force, workers=workers,
                                   log=None if as_json else (lambda m: err.print(m, highlight=False)))
    d = json.loads(cal.to_json()) | {"path": str(calibration_path(cfg))}
    if as_json:
        _print_json(d)
    else:
        out.print(f"energy calibration {d['path']}", highlight=False)
        for x, y in zip(cal.raw_MeV, cal.true_MeV):
            out.print(f"  {y:4.1f} MeV electrons -> raw {x:.4f} MeV", highlight=False)

@app.command("validate-reco")
def validate_reco_cmd(
    preset: str = typer.Option("klz800", "--preset", "-p"), config: Optional[Path] = typer.Option(None, "--config"),
    overrides: Optional[list[str]] = typer.Option(None, "--set"),
    events: int = typer.Option(1000, "--events", "-n", min=50, help="events per point"),
    seed: int = typer.Option(1, "--seed"),
    workers: int = typer.Option(1, "--workers", "-j", min=1),
    plots: Optional[Path] = typer.Option(Path("validation/reco"), "--plots", help="folder for PNG plots"),
    no_plots: bool = typer.Option(False, "--no-plots"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Vertex/energy resolution, bias, linearity and occupied cells next to the published figures."""
    from ..validate.reco import validate_reco

    cfg = _load_cfg(preset, config, overrides)
    log = (lambda m: err.print(f"[dim]{m}...[/dim]")) if not as_json else None
    res = validate_reco(cfg, events, seed, workers, None if no_plots else plots, log)
    if as_json:
        _print_json(res)
        return
    out.print(f"vertex resolution at Q: {res['vertex_resolution_cm_at_q']:.2f} cm "
              f"(ref {res['vertex_resolution_cm_at_q_ref']:.2f} cm)", highlight=False)
    out.print(f"energy resolution at Q: {100 * res['energy_resolution_at_q']:.2f} % "
              f"(ref {100 * res['energy_resolution_at_q_ref']:.2f} %)", highlight=False)
    out.print(f"occupied cells (0nbb, 28x38x38, fast tubes): {res['mean_occupied_cells_0vbb']:.0f} "
              f"(ref {res['mean_occupied_cells_0vbb_ref']:.0f})", highlight=False)
    for f in res.get("plots", []):
        out.print(f"plot: {f}", highlight=False)

@bench_app.command("features")
def bench_features_cmd(
    preset: str = typer.Option("klz800", "--preset", "-p"),
    events: int = typer.Option(3000, "--events", "-n", min=200),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    workers: int = typer.Option(2, "--workers", "-j", min=0, help="DataLoader workers for the loader figure"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Throughput of building network inputs from sparse hits (per core) and of the loaders."""
    from ..features.bench import bench_features

    cfg = _load_cfg(preset, None, None)
    res = bench_features(cfg, events, batch_size, workers)
    if as_json:
        _print_json(res)
        return
    for k, v in res.items():
        out.print(f"{k}: {v:.0f}" if isinstance(v, float) else f"{k}: {v}", highlight=False)
