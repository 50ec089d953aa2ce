"""CLI command for data cleaning with the topology score (KamNet paper sec. V.B)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._common import _fail, _print_json, err, out

app = typer.Typer()


@app.command()
def clean(
    path: Path = typer.Argument(..., help="stream file from `scintnet stream --set convection.enabled=true`"),
    preset: str = typer.Option("klz800", "--preset", help="tagging preset ([clean] table)"),
    config: Optional[Path] = typer.Option(None, "--config", help="tagging TOML file"),
    scores: Optional[Path] = typer.Option(None, "--scores", help="scores.h5 of `scintnet evaluate` for the score "
                                          "distributions (default: the KamNet paper's working points)"),
    period_days: Optional[float] = typer.Option(None, "--period-days", help="period length (default: [clean])"),
    plots: Optional[Path] = typer.Option(Path("out/clean"), "--plots", help="folder for the PNG plot"),
    no_plots: bool = typer.Option(False, "--no-plots"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Flag periods of high beta+-gamma rate by per-period fits of the topology score; score them against
    the stream's injected convection."""
    from ..io.stream import StreamConfigError, read_stream
    from ..tagging.clean import run_cleaning
    from ..tagging.config import TagConfigError, load_tag_config
    from ..tagging.topology import TopologyError, topology_from_scores

    try:
        cfg = load_tag_config(preset, config)
        model = topology_from_scores(scores) if scores is not None else None
        s = read_stream(path)
        log = (lambda m: err.print(f"[dim]{m}...[/dim]")) if not as_json else None
        res = run_cleaning(s, cfg, model, period_days, None if no_plots else plots, log)
    except (StreamConfigError, TagConfigError, TopologyError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        _print_json(res)
        return

    def pct(x):
        return "n/a" if x is None else f"{100 * x:.1f} %"

    out.print(f"{res['n_periods']} periods of {res['period_days']:g} d, {res['n_convection_periods']} with "
              f"convection: flag efficiency {pct(res['flag_efficiency'])}, false flag rate "
              f"{pct(res['false_flag_rate'])}, exposure removed {pct(res['exposure_removed'])}", highlight=False)
    out.print(f"removed: 214Bi {pct(res['bi214_removed'])}, all background {pct(res['background_removed'])}, "
              f"2nbb {pct(res['signal_removed'])} ({res['selection']['n_events']} events in the window)",
              highlight=False)
    for f in res.get("plots", []):
        out.print(f"plot: {f}", highlight=False)
