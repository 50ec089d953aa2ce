"""CLI commands for jet tagging (seed 004): generate top / QCD jets, benchmark the model zoo."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._common import _fail, _print_json, err, out


def _need_extra() -> None:
    try:
        import fastjet  # noqa: F401
        import pythia8mc  # noqa: F401
    except ImportError:
        _fail("jet tagging needs the jets extra: pip install 'scintnet[jets]' (pythia8mc, fastjet)")


jets_app = typer.Typer(no_args_is_help=True, help="Jet tagging: top vs QCD (seed 004), an optional extra.")


def _load_sample(data: Optional[Path], n_top: int, n_qcd: int, seed: int, log):
    """The jets of ``--data``, or ``n_top`` + ``n_qcd`` generated in memory (one chunk each)."""
    from ..io.jets import JetSample, read_jets

    if data is not None:
        return read_jets(data)[0]
    _need_extra()
    from ..jets.generate import JetGenConfig, chunk_seed, generate_chunk

    log(f"jets: generating {n_top} top + {n_qcd} QCD jets in memory")
    return JetSample.concat([generate_chunk("top", n_top, chunk_seed(seed, "top", 0), JetGenConfig()),
                             generate_chunk("qcd", n_qcd, chunk_seed(seed, "qcd", 0), JetGenConfig())])



@jets_app.command("generate")
def generate(
    out_path: Path = typer.Option(..., "--out", "-o", help="output HDF5 jet file"),
    n_top: int = typer.Option(..., "--top", min=0, help="top jets"),
    n_qcd: int = typer.Option(..., "--qcd", min=0, help="QCD jets"),
    seed: int = typer.Option(1, "--seed"),
    workers: int = typer.Option(1, "--workers", "-j", min=1),
    chunk_jets: int = typer.Option(2000, "--chunk-jets", min=1, help="jets per chunk (resume granularity)"),
    smearing: bool = typer.Option(True, "--smearing/--no-smearing", help="parametrised detector response"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing --out"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Generate top and QCD jets with Pythia 8 + FastJet (seeded, chunked, resumable)."""
    from ..jets.generate import JetConfigError, JetGenConfig, Smearing, run_generate

    _need_extra()
    try:
        cfg = JetGenConfig(smearing=Smearing(enabled=smearing))
        res = run_generate(out_path, n_top, n_qcd, seed, workers, chunk_jets, cfg, overwrite,
                           log=lambda m: err.print(m, highlight=False))
    except (JetConfigError, FileExistsError, FileNotFoundError) as exc:
        _fail(str(exc))
    if as_json:
        _print_json(res)
    else:
        out.print(f"wrote {res['n_jets']} jets to {out_path} in {res['seconds']:.0f} s", highlight=False)

@jets_app.command("bench")
def bench(
    data: Optional[Path] = typer.Option(None, "--data", help="jet file from `scintnet jets generate`"),
    n_top: int = typer.Option(300, "--top", min=20, help="without --data: top jets generated in memory"),
    n_qcd: int = typer.Option(300, "--qcd", min=20, help="without --data: QCD jets generated in memory"),
    models: str = typer.Option("pfn,particlenet_lite,particlenet,part,lorentznet,lorentz_moments", "--models"),
    epochs: int = typer.Option(3, "--epochs", min=1),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes", help="time limit per training"),
    trainings: int = typer.Option(1, "--trainings", min=1, help="trainings per model (model-bootstrap spread)"),
    batch_size: int = typer.Option(128, "--batch-size", min=1),
    lr: float = typer.Option(1e-3, "--lr"),
    seed: int = typer.Option(1, "--seed"),
    threads: Optional[int] = typer.Option(None, "--threads", min=1),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="folder for bench.json"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The top-tagging table: accuracy, AUC, 1/eps_B at eps_S 0.5 / 0.3, params, FLOPs, jets/s (tiny defaults)."""
    import json

    from .. import configure_runtime
    from ..io.jets import JetFileError
    from ..jets.bench import JetBenchConfig, jets_bench

    if not lr > 0 or (max_minutes is not None and not max_minutes > 0):
        _fail("--lr and --max-minutes must be > 0")
    log = lambda m: err.print(m, highlight=False)  # noqa: E731
    try:
        sample = _load_sample(data, n_top, n_qcd, seed, log)
        used = configure_runtime(threads)
        cfg = JetBenchConfig(models=tuple(m.strip() for m in models.split(",") if m.strip()), epochs=epochs,
                             max_minutes=max_minutes, batch_size=batch_size, lr=lr, trainings=trainings, seed=seed)
        res = jets_bench(sample, cfg, log)
        res["threads"] = used["threads"]
    except (JetFileError, ValueError) as exc:
        _fail(str(exc))
    if out_dir is not None:
        from ..train.harness import atomic_write_bytes

        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out_dir / "bench.json", json.dumps(res, indent=2, default=float).encode())
    if as_json:
        _print_json(res)
        return
    def f0(v):
        return "      n/a" if v is None else f"{v:9.0f}"

    out.print(f"{'model':18s} {'acc':>6s} {'AUC':>7s} {'1/eB(.5)':>9s} {'1/eB(.3)':>9s} {'params':>9s} "
              f"{'MFLOP/jet':>10s} {'train j/s':>9s}", highlight=False)
    for name, row in res["floors"].items():
        out.print(f"{name:18s} {row['accuracy']:6.3f} {row['auc']:7.4f} {f0(row['inv_eb_at_0.5'])} "
                  f"{f0(row['inv_eb_at_0.3'])}", highlight=False)
    for row in res["models"]:
        out.print(f"{row['model']:18s} {row['accuracy']:6.3f} {row['auc']:7.4f} {f0(row['inv_eb_at_0.5'])} "
                  f"{f0(row['inv_eb_at_0.3'])} {row['params']:9d} {row['flops_per_jet'] / 1e6:10.1f} "
                  f"{row['train_jets_per_s']:9.0f}", highlight=False)


@jets_app.command("explain")
def explain(
    data: Optional[Path] = typer.Option(None, "--data", help="jet file from `scintnet jets generate`"),
    n_top: int = typer.Option(300, "--top", min=20, help="without --data: top jets generated in memory"),
    n_qcd: int = typer.Option(300, "--qcd", min=20, help="without --data: QCD jets generated in memory"),
    models: str = typer.Option("pfn,part", "--models"),
    epochs: int = typer.Option(3, "--epochs", min=1),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes", help="time limit per training"),
    n_explain: int = typer.Option(1000, "--jets", min=10, help="test jets to explain"),
    steps: int = typer.Option(32, "--steps", min=4, help="integrated-gradient steps"),
    seed: int = typer.Option(1, "--seed"),
    threads: Optional[int] = typer.Option(None, "--threads", min=1),
    out_dir: Path = typer.Option(Path("out/jets/explain"), "--out", "-o", help="folder for plots and explain.json"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Attributions over constituents (integrated gradients) and ParT's learned pair attention."""
    import json

    from .. import configure_runtime
    from ..io.jets import JetFileError
    from ..jets.bench import JetBenchConfig
    from ..jets.explain import jets_explain

    if max_minutes is not None and not max_minutes > 0:
        _fail("--max-minutes must be > 0")
    log = lambda m: err.print(m, highlight=False)  # noqa: E731
    try:
        sample = _load_sample(data, n_top, n_qcd, seed, log)
        configure_runtime(threads)
        names = tuple(m.strip() for m in models.split(",") if m.strip())
        cfg = JetBenchConfig(models=names, epochs=epochs, max_minutes=max_minutes, seed=seed)
        res = jets_explain(sample, names, cfg, out_dir, n_explain, steps, log)
    except (JetFileError, ValueError) as exc:
        _fail(str(exc))
    from ..train.harness import atomic_write_bytes

    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_dir / "explain.json", json.dumps(res, indent=2, default=float).encode())
    if as_json:
        _print_json(res)
    else:
        for name, r in res["models"].items():
            out.print(f"{name}: plots {', '.join(r['plots'])}", highlight=False)
