"""CLI commands for sparse sensing: readout reduction of the ECAL toy and of the PMTs (seed 003)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._common import _fail, _print_json, err, out

sparse_app = typer.Typer(no_args_is_help=True, help="Sparse sensing: which channels to read out (seed 003).")


@sparse_app.command("bench")
def bench(
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="folder for bench.json, masks.json and plots"),
    reduction: float = typer.Option(0.34, "--reduction", help="fraction of channels not read out"),
    train_showers: int = typer.Option(20000, "--train-showers", help="ECAL training showers (0.5-30 GeV)"),
    test_showers: int = typer.Option(2000, "--test-showers", help="ECAL test showers per energy"),
    energies: str = typer.Option("1,2.5,5,10,20", "--energies", help="ECAL test energies in GeV"),
    epochs: int = typer.Option(30, "--epochs", help="regressor (and learned-mask) epochs"),
    methods: str = typer.Option("full,random,geometric,occupancy,qr,greedy,learned", "--methods",
                                help="geometric (farthest-point on the sphere) applies to the PMTs only"),
    curve: bool = typer.Option(False, "--curve/--no-curve", help="also the curve over 10-80 % reduction"),
    pmt: bool = typer.Option(True, "--pmt/--no-pmt", help="also the PMT readout benchmark"),
    preset: str = typer.Option("klz400-fast", "--preset", help="detector preset of the PMT benchmark"),
    pmt_train: int = typer.Option(4000, "--pmt-train-events", help="PMT benchmark training events per class"),
    pmt_test: int = typer.Option(2000, "--pmt-test-events", help="PMT benchmark test events per class"),
    seed: int = typer.Option(1, "--seed"),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads (default: all cores)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing bench.json in --out"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as JSON"),
) -> None:
    """sigma/E of the ECAL and vertex / energy / rejection of the PMTs for each readout-selection method."""
    from .. import configure_runtime
    from ..detector.config import ConfigError, list_presets
    from ..sparse.bench import EcalBenchConfig, sparse_bench, write_results
    from ..sparse.ecal import EcalConfig, EcalConfigError
    from ..sparse.pmt import PMT_METHODS, PmtBenchConfig

    try:
        e_list = tuple(float(x) for x in energies.split(","))
    except ValueError:
        _fail(f"--energies must be comma-separated numbers in GeV, not {energies!r}")
    m_list = tuple(m.strip() for m in methods.split(",") if m.strip())
    if out_dir is not None and (out_dir / "bench.json").exists() and not overwrite:
        _fail(f"{out_dir / 'bench.json'} exists (pass --overwrite to replace it)")
    if pmt and preset not in list_presets():
        _fail(f"unknown preset {preset!r} (see `scintnet presets`)")
    try:
        ecal_cfg = EcalBenchConfig(reduction=reduction, energies_GeV=e_list, train_showers=train_showers,
                                   test_showers=test_showers, methods=tuple(m for m in m_list if m != "geometric"),
                                   epochs=epochs, seed=seed,
                                   curve_reductions=tuple(round(0.1 * i, 2) for i in range(1, 9)) if curve else ())
        pmt_cfg = None
        if pmt:
            bad = [m for m in m_list if m not in PMT_METHODS]
            if bad:
                _fail(f"unknown method(s) {bad} for the PMTs (one of {', '.join(PMT_METHODS)})")
            if pmt_train < 100 or pmt_test < 100:
                _fail("--pmt-train-events and --pmt-test-events must be >= 100")
            pmt_cfg = PmtBenchConfig(preset=preset, train_events=pmt_train, test_events=pmt_test,
                                     reduction=reduction, methods=m_list, seed=seed, epochs=min(epochs, 20))
        used = configure_runtime(threads)
        err.print(f"sparse bench: {used['threads']} threads", highlight=False)
        res = sparse_bench(EcalConfig(), ecal_cfg, pmt_cfg, log=lambda m: err.print(m, highlight=False))
        files = write_results(res, out_dir, overwrite) if out_dir is not None else []
    except (ValueError, EcalConfigError, ConfigError) as exc:
        _fail(str(exc))
    res.pop("_masks", None)
    if as_json:
        _print_json(res)
        return
    for m, row in res["ecal"].items():
        out.print(f"ECAL {m:9s} " + "  ".join(f"{e} GeV: {100 * v:.2f} ± {100 * row['sigma_over_e_err'][e]:.2f} %"
                                               for e, v in row["sigma_over_e"].items()), highlight=False)
    for m, row in res.get("pmt", {}).items():
        out.print(f"PMT  {m:9s} vertex {row['vertex_res_cm']:.1f} cm  sigma/E {100 * row['energy_res']:.2f} %  "
                  f"rejection at 90 % {100 * row['rejection_at_90']:.1f} %", highlight=False)
    for f in files:
        out.print(f"wrote {f}", highlight=False)
