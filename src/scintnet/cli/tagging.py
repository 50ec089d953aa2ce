"""CLI commands for time-correlated background tagging (stream, tag)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._common import _fail, _print_json, err, out

app = typer.Typer()


@app.command()
def stream(
    out_path: Path = typer.Option(..., "--out", "-o", help="output HDF5 stream file"),
    preset: str = typer.Option("klz800", "--preset", "-p", help="stream preset (scintnet/sim/stream_presets)"),
    config: Optional[Path] = typer.Option(None, "--config", help="stream TOML file instead of a preset"),
    overrides: Optional[list[str]] = typer.Option(None, "--set", help="e.g. --set spallation.xe_roi_per_year=2000"),
    days: float = typer.Option(365.0, "--days", help="live time in days"),
    seed: int = typer.Option(1, "--seed"),
    workers: int = typer.Option(1, "--workers", "-j", min=1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Simulate a time-ordered event stream (muons, spallation, 136Xe, Bi-Po, IBD, singles); resumable."""
    import time

    from ..sim.stream import StreamConfigError, load_stream_config, run_stream

    try:
        cfg = load_stream_config(preset, config, overrides)
        t = time.perf_counter()
        res = run_stream(cfg, days, seed, out_path, workers)
    except StreamConfigError as exc:
        _fail(str(exc))
    res["seconds"] = time.perf_counter() - t
    if as_json:
        _print_json(res)
    else:
        out.print(f"wrote {res['n_events']} events and {res['n_muons']} muons ({days:g} days) to {out_path} "
                  f"in {res['seconds']:.1f} s", highlight=False)

@app.command("validate-muons")
def validate_muons(
    path: Path = typer.Argument(..., help="stream file from `scintnet stream`"),
    plots: Optional[Path] = typer.Option(None, "--plots", help="folder for muons.png"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Muon energy, neutron yield vs energy, multiplicity and lateral distance vs ΔQ, capture-vertex resolution."""
    from ..sim.stream import StreamConfigError, read_stream
    from ..validate.muons import muon_figures

    try:
        res = muon_figures(read_stream(path), plots)
    except (StreamConfigError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        _print_json(res)
        return
    out.print(f"{res['n_muons']} muons: mean energy {res['mean_energy_GeV']:.0f} GeV (KamLAND 260 ± 8), "
              f"neutron yield {res['neutron_yield_per_g_cm2_all']:.2e} /(mu g/cm2) in the LS "
              f"({res['neutron_yield_per_g_cm2_detected']:.2e} detected; KamLAND 2.8e-4), yield ~ E^"
              f"{res['neutron_energy_power']:.2f} (0.75 ± 0.02), showering {100 * res['showering_fraction']:.2f} %, "
              f"capture vertex {res['capture_vertex_resolution_mm']:.0f} mm/axis", highlight=False)
    for c in res["dq_classes"]:
        out.print(f"  ΔQ {c['dq_GeV'][0]:g}-{c['dq_GeV'][1]:g} GeV: {100 * c['muon_fraction']:.2f} % of muons, "
                  f"{c['mean_detected_neutrons']:.2f} detected n/muon, lateral median {c['lateral_median_mm']:.0f} mm, "
                  f"90 % {c['lateral_90_mm']:.0f} mm", highlight=False)


@app.command("tag-pid")
def tag_pid(
    out_dir: Path = typer.Option(Path("out/pid"), "--out", "-o", help="folder for data, run, JSON and plot"),
    preset: str = typer.Option("klz800", "--preset", help="tagging preset ([pid] table)"),
    config: Optional[Path] = typer.Option(None, "--config", help="tagging TOML file"),
    events: Optional[int] = typer.Option(None, "--events", min=100, help="training events per class"),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes", help="training time limit"),
    workers: int = typer.Option(1, "--workers", "-j", min=1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Positron vs gamma PID with a graph network on PMT hits (simulate, train, evaluate; resumable)."""
    from dataclasses import replace

    from ..tagging.config import TagConfigError, load_tag_config
    from ..tagging.pid import run_pid
    from ..train.harness import TrainError

    try:
        pc = load_tag_config(preset, config).pid
        if events is not None:
            pc = replace(pc, events_per_class=events)
        if max_minutes is not None:
            pc = replace(pc, max_minutes=max_minutes)
        log = (lambda m: err.print(f"[dim]{m}[/dim]")) if not as_json else (lambda m: None)
        res = run_pid(pc, out_dir, workers, progress=not as_json, log=log)
    except (TagConfigError, TrainError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        _print_json(res)
    else:
        out.print(f"e+/gamma PID ({res['model']}): AUC {res['auc']:.3f}, balanced accuracy "
                  f"{100 * res['balanced_accuracy']:.1f} %, gamma rejection at 90 % e+ efficiency "
                  f"{100 * res['gamma_rejection_at_90_positron_eff']:.1f} %; plot {res['plot']}", highlight=False)

@app.command()
def tag(
    path: Path = typer.Argument(..., help="stream file from `scintnet stream`"),
    preset: str = typer.Option("klz800", "--preset", help="tagging preset (scintnet/tagging/presets)"),
    config: Optional[Path] = typer.Option(None, "--config", help="tagging TOML file"),
    plots: Optional[Path] = typer.Option(Path("out/tagging"), "--plots", help="folder for PNG plots"),
    no_plots: bool = typer.Option(False, "--no-plots"),
    no_pointnet: bool = typer.Option(False, "--no-pointnet", help="skip the PointNet trainings"),
    split: Optional[Path] = typer.Option(None, "--split", help="write tagged/untagged rows (.npz)"),
    train: Optional[Path] = typer.Option(
        None, "--train", help="stream to train the taggers on (default: the data stream, split in halves, when it "
        "holds enough Xe spallation; else a spallation-enriched stream simulated once beside it, STEM.train.h5)"),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="workers for simulating the training stream"),
    overrides: Optional[list[str]] = typer.Option(None, "--set", help="e.g. --set coincidence.pid_auc=0.9"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Likelihood and PointNet spallation tags, XGBoost coincidence tagger: figures and plots."""
    from ..io.stream import StreamConfigError, read_stream
    from ..tagging.config import TagConfigError, load_tag_config
    from ..tagging.report import resolve_training_stream, run_tagging

    try:
        cfg = load_tag_config(preset, config, overrides)
        s = read_stream(path)
        log = (lambda m: err.print(f"[dim]{m}...[/dim]")) if not as_json else None
        tr, info = resolve_training_stream(s, path, cfg, train, workers, log)
        res = run_tagging(s, cfg, None if no_plots else plots, not no_pointnet, log, split, tr)
        if info is not None:
            res["training_stream"] = info | res.get("training_stream", {})
    except (StreamConfigError, TagConfigError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        _print_json(res)
        return
    lk = res["likelihood"]

    def pct(v):
        return "n/a" if v is None else f"{100 * v:.1f}"

    if "training_stream" in res:
        t = res["training_stream"]
        out.print(f"trained on {t['path']} ({t['n_spallation_candidates']} Xe-spallation candidates); figures on the "
                  f"{lk['n_spallation_test']} of this stream", highlight=False)
    out.print(f"likelihood tag: {pct(lk['spallation_tagged'])} +- {pct(lk['spallation_tagged_err'])} % "
              f"of Xe spallation tagged into {100 * lk['exposure_lost']:.1f} % of exposure "
              f"[{lk['reference']}]", highlight=False)
    cb = res["combined"]
    out.print(f"combined veto (spallation + topology): {pct(cb['spallation_tagged'])} % into "
              f"{100 * cb['exposure_lost']:.1f} % of exposure (spallation alone "
              f"{pct(cb['spallation_only']['spallation_tagged'])} %, topology alone "
              f"{pct(cb['topology_only']['spallation_tagged'])} %)", highlight=False)
    for mode, v in res.get("pointnet", {}).items():
        if isinstance(v, dict):
            out.print(f"PointNet {mode}: {pct(v['spallation_tagged'])} % at {100 * v['false_tag']:.1f} % false tag",
                      highlight=False)
    c = res["coincidence"]
    if "accuracy" in c:
        out.print(f"XGBoost coincidence: accuracy {100 * c['accuracy']:.1f} % with PID (AUC {c['pid_auc']:.3f}), "
                  f"{100 * c['accuracy_no_pid']:.1f} % without, {100 * c['accuracy_dr_dt_only']:.1f} % on dR, dT alone "
                  f"[{c['reference']}]; {c['n_true_test']} true vs {c['n_offtime_test']} off-time accidental pairs, "
                  f"on-time accidentals {c['ontime_accidentals_test']} seen / "
                  f"{c['ontime_accidentals_expected']:.1f} expected", highlight=False)
    for f in res.get("plots", []):
        out.print(f"plot: {f}", highlight=False)
