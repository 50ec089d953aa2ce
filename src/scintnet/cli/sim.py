"""CLI commands for simulation and its files: version, presets, sources, simulate, info, validate-sim,
validate-inputs, and the benchmarks ``bench io`` and ``bench sim``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .. import __version__
from ._common import ConfigOpt, PresetOpt, SetOpt, _fail, _load_cfg, _print_json, err, out

app = typer.Typer()
bench_app = typer.Typer()


@app.command()
def version() -> None:
    """Print the scintnet version."""
    out.print(__version__)


@app.command()
def presets() -> None:
    """List detector presets."""
    from ..detector.config import list_presets, load_config

    for p in list_presets():
        out.print(f"{p:12s} {load_config(p).description}", highlight=False)


@app.command()
def sources() -> None:
    """List event sources."""
    from ..physics.sources import DESCRIPTIONS

    for k, v in DESCRIPTIONS.items():
        out.print(f"{k:20s} {v}", highlight=False)


@app.command()
def simulate(
    source: str = typer.Option(..., "--source", "-s", help="event source (see `scintnet sources`)"),
    events: int = typer.Option(..., "--events", "-n", min=1, help="number of events"),
    out_path: Path = typer.Option(..., "--out", "-o", help="output HDF5 file"),
    preset: str = PresetOpt, config: Optional[Path] = ConfigOpt, overrides: Optional[list[str]] = SetOpt,
    seed: int = typer.Option(1, "--seed", help="random seed (with the chunk size it fixes the file content)"),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="worker processes"),
    vertex: str = typer.Option("xels", "--vertex", help="xels | film | ls | center | sphere:R | shell:R1:R2 | point:x,y,z (mm)"),
    energy: Optional[float] = typer.Option(None, "--energy", help="kinetic energy in MeV (particle guns)"),
    chunk_size: int = typer.Option(2000, "--chunk-size", min=1, help="events per chunk (resume granularity)"),
    no_deposits: bool = typer.Option(False, "--no-deposits", help="do not store per-deposit truth"),
    optics: str = typer.Option("production", "--optics",
                               help="production (sampled p.e. from light tables) | reference (every photon tracked)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing --out file"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON summary"),
) -> None:
    """Simulate events into an HDF5 event file (resumable: re-run the same command after a kill)."""
    from ..executor import progress_bar
    from ..io.outputs import check_output
    from ..physics.sources import get_source
    from ..physics.vertex import parse_vertex
    from ..sim.run import SimConfig, run_simulation

    cfg = _load_cfg(preset, config, overrides)
    try:
        get_source(source, energy)
        parse_vertex(vertex, cfg.geometry)
        check_output(out_path, overwrite)  # a folder, a missing parent, an existing file: before any work
    except ValueError as exc:
        _fail(str(exc))
    if optics not in ("production", "reference"):
        _fail(f"--optics must be production or reference, not {optics!r}")
    sim = SimConfig.for_detector(cfg, source, events, seed, vertex=vertex, energy_MeV=energy, chunk_size=chunk_size,
                                 store_deposits=not no_deposits, optics=optics)
    import time

    t = time.perf_counter()
    with progress_bar(total=events, unit="ev", desc=f"{source}", enabled=not as_json) as bar:
        try:
            res = run_simulation(sim, out_path, workers, progress=bar.update, overwrite=overwrite)
        except ValueError as exc:
            _fail(str(exc))
    res["seconds"] = time.perf_counter() - t
    res["events_per_s"] = (res["n_events"] - res["resumed_events"]) / max(res["seconds"], 1e-9)
    if as_json:
        _print_json(res)
    else:
        out.print(f"wrote {res['n_events']} events to {out_path} ({res['events_per_s']:.0f} events/s)")


@app.command()
def info(path: Path, as_json: bool = typer.Option(False, "--json")) -> None:
    """Counts, sources and metadata of an event file."""
    from ..io.store import EventFileError, describe

    try:
        i = describe(path)
    except EventFileError as exc:
        _fail(str(exc))
    if as_json:
        _print_json(i)
        return
    t = Table(title=str(path), show_header=False)
    for k in ("n_events", "n_hits", "mean_nhit", "n_signal", "n_pmts", "preset", "schema_version",
              "scintnet_version", "created_utc"):
        t.add_row(k, str(i[k]))
    for k, v in i["run"].items():
        t.add_row(f"run.{k}", str(v))
    out.print(t)


@app.command("validate-sim")
def validate_sim_cmd(
    preset: str = PresetOpt, config: Optional[Path] = ConfigOpt, overrides: Optional[list[str]] = SetOpt,
    events: int = typer.Option(2000, "--events", "-n", min=50, help="0nbb events for the resolutions"),
    decays: int = typer.Option(200_000, "--decays", min=1000, help="decays for the line intensities"),
    seed: int = typer.Option(1, "--seed"),
    workers: int = typer.Option(1, "--workers", "-j", min=1),
    plots: Optional[Path] = typer.Option(Path("validation/sim"), "--plots", help="folder for PNG plots"),
    no_plots: bool = typer.Option(False, "--no-plots"),
    optics_events: int = typer.Option(300, "--optics-events", min=20,
                                      help="0nbb events per position for production vs reference optics"),
    film_decays: int = typer.Option(20_000, "--film-decays", min=1000, help="film 214Bi decays for the FV ratio"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Simulate and print the validation figures with the published reference beside each."""
    from ..validate.sim import validate_sim

    cfg = _load_cfg(preset, config, overrides)
    log = (lambda m: err.print(f"[dim]{m}...[/dim]")) if not as_json else None
    res = validate_sim(cfg, cfg.name, events, seed, workers, None if no_plots else plots, decays, log,
                       n_optics=optics_events, n_film=film_decays)
    if as_json:
        _print_json(res)
        return
    t = Table(title=f"validate-sim {cfg.name}")
    t.add_column("figure")
    t.add_column("scintnet", justify="right")
    t.add_column("reference", justify="right")
    t.add_row("sigma_E/E at Q", f"{100 * res['energy_resolution_at_q']:.2f} %", f"{100 * res['energy_resolution_at_q_ref']:.2f} %")
    t.add_row("vertex resolution at Q", f"{res['vertex_resolution_cm_at_q']:.2f} cm", f"{res['vertex_resolution_cm_at_q_ref']:.2f} cm")
    t.add_row("occupied cells (0nbb)", f"{res['mean_occupied_cells_0vbb']:.0f}", f"{res['mean_occupied_cells_0vbb_ref']:.0f}")
    for k, v in res["attenuation_length_cm"].items():
        t.add_row(f"gamma att. length {k} MeV", f"{v:.2f} cm (MC {res['attenuation_length_cm_mc'][k]:.2f})",
                  f"{res['attenuation_length_cm_ref'][k]:.2f} cm")
    for k, v in res["line_intensity"].items():
        t.add_row(f"{k} gammas/decay", f"{v:.4f}", f"{res['line_intensity_ref'][k]:.4f}")
    for k, v in res["hit_time_ks_production_vs_reference"].items():
        t.add_row(f"hit-time KS production vs reference ({k})", f"{v:.4f}", f"< {res['hit_time_ks_target']}")
    t.add_row("detected light: " + " / ".join(res["light_fractions"]),
              " / ".join(f"{100 * v:.1f} %" for v in res["light_fractions"].values()), "")
    t.add_row("10C 718 keV gamma delay (mean)", f"{res['c10_gamma718_delay_ns_mean']:.3f} ns",
              f"{res['c10_gamma718_delay_ns_mean_ref']:.3f} ns")
    t.add_row("film 214Bi N(R<165.8 cm)/N(R<157 cm)",
              f"{res['film_fv_ratio_165_157']:.2f} ± {res['film_fv_ratio_165_157_err']:.2f}",
              f"{res['film_fv_ratio_165_157_ref']:.2f} (paper V.D)")
    out.print(t)
    for f in res.get("plots", []):
        out.print(f"plot: {f}", highlight=False)


@app.command("validate-inputs")
def validate_inputs_cmd(
    work: Path = typer.Option(Path("out/fuzz"), "--work", help="folder for the valid inputs that get damaged"),
    event_cases: int = typer.Option(200, "--event-cases", min=0, help="damaged copies of an event file"),
    stream_cases: int = typer.Option(100, "--stream-cases", min=0, help="damaged copies of a stream file"),
    run_cases: int = typer.Option(100, "--run-cases", min=0, help="damaged copies of a run folder"),
    seed: int = typer.Option(1, "--seed"),
    timeout_s: float = typer.Option(30.0, "--timeout-s", min=1.0, help="time limit of one case"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Byte-mutation fuzz of the readers: each damaged file must give a clean error or a result, no hang."""
    from ..validate.fuzz import fuzz_all

    if not work.parent.is_dir():
        _fail(f"{work}: the folder {work.parent} does not exist (create it first)")
    res = fuzz_all(work, event_cases, stream_cases, run_cases, seed, timeout_s,
                   log=None if as_json else (lambda m: err.print(f"[dim]{m}[/dim]", highlight=False)))
    if as_json:
        _print_json(res)
    else:
        t = Table(title="validate-inputs (byte-mutation fuzz)")
        for c in ("target", "cases", "clean", "accepted", "internal", "hang", "seconds"):
            t.add_column(c, justify="right" if c != "target" else "left")
        for name, r in res.items():
            t.add_row(name, *(f"{r[c]:.0f}" if c == "seconds" else str(r[c])
                              for c in ("cases", "clean", "accepted", "internal", "hang", "seconds") if c in r),
                      *([] if "seconds" in r else [""]))
        out.print(t)
        for name, r in res.items():
            for e in r.get("examples", []):
                out.print(f"{name}: {e}", highlight=False)
    if res["total"]["internal"] or res["total"]["hang"]:
        raise typer.Exit(1)


@bench_app.command("io")
def bench_io_cmd(path: Path = typer.Argument(..., help="an event file to rewrite and read back"),
                 repeats: int = typer.Option(3, "--repeats", min=1),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Cost of the checksummed event-file format (write, read) and of the reader's metadata probe."""
    from ..bench import bench_io

    res = bench_io(str(path), repeats)
    if as_json:
        _print_json(res)
        return
    for k in ("checksummed", "plain"):
        r = res[k]
        out.print(f"{k:12s} write {r['write_s']:.3f} s  read {r['read_s']:.3f} s  {r['bytes'] / 1e6:.1f} MB")
    out.print(f"overhead of the checksums: write {100 * res['write_overhead']:+.1f} %, read "
              f"{100 * res['read_overhead']:+.1f} %; metadata probe {1000 * res['probe_s']:.1f} ms per file")


@bench_app.command("sim")
def bench_sim_cmd(
    preset: str = PresetOpt, config: Optional[Path] = ConfigOpt, overrides: Optional[list[str]] = SetOpt,
    source: str = typer.Option("Xe136_0vbb", "--source"),
    events: int = typer.Option(4000, "--events", "-n", min=100),
    workers: Optional[list[int]] = typer.Option(None, "--workers", help="also measure these worker counts"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Simulation throughput (events/s and photoelectrons/s per core)."""
    from ..bench import bench_sim, stage_profile

    cfg = _load_cfg(preset, config, overrides)
    res = bench_sim(cfg, cfg.name, source, events, workers_list=tuple(workers or ()))
    res["stage_seconds"] = stage_profile(cfg, source)
    res["cpu_count"] = os.cpu_count()
    if as_json:
        _print_json(res)
    else:
        out.print(f"{res['events_per_s_per_core']:.0f} events/s per core, "
                  f"{res['photoelectrons_per_s_per_core']:.3g} p.e./s ({source}, {cfg.name}, production optics)")
        out.print(f"reference optics: {res['reference_photons_per_s']:.3g} photons/s tracked, "
                  f"{res['reference_events_per_s']:.1f} events/s")
        for k, v in res.get("events_per_s_by_workers", {}).items():
            out.print(f"  workers={k}: {v:.0f} events/s")
