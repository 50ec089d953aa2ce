"""``scintnet study NAME``: the studies of :mod:`scintnet.studies` (thin: options, call, print)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._common import _fail, _print_json, out

study_app = typer.Typer(no_args_is_help=True, help="Studies over trained and evaluated runs (scintnet.studies).")


def _guard(fn):
    """Inputs the studies refuse (missing groups, different test events) end as one-line errors."""
    try:
        return fn()
    except (ValueError, KeyError) as exc:
        from ..errors import ScintnetError

        if isinstance(exc, ScintnetError):
            raise
        _fail(str(exc).strip("'\""))


def _write_json(path: Path, obj, overwrite: bool) -> None:
    from ..io.outputs import check_output
    from ..io.rundir import write_json_atomic

    check_output(path, overwrite)
    write_json_atomic(path, obj)


@study_app.command("table-klz800")
def table_klz800_cmd(
    runs: list[Path] = typer.Argument(None, help="trained runs evaluated into RUN/eval and RUN/eval_film"),
    ref: Path = typer.Option(..., "--ref", help="reference run for the paired differences"),
    from_json: Optional[Path] = typer.Option(None, "--from-json", help="start from a saved --json-out; only runs "
                                             "not in it are computed"),
    json_out: Optional[Path] = typer.Option(None, "--json-out", help="save every run's figures here"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing --json-out"),
    spread_ref: Optional[str] = typer.Option(None, "--spread-ref", help="model:preset the over-trainings tables "
                                             "compare to (default: that of --ref)"),
    n_boot: int = typer.Option(500, "--n-boot", min=10, help="paired-bootstrap resamples per comparison"),
    exclude: Optional[list[str]] = typer.Option(None, "--exclude", help="leave runs whose path contains this out "
                                                "of the printed tables (repeatable)"),
    double_pulse_loss: Optional[float] = typer.Option(None, "--double-pulse-loss", min=0.0, max=0.5,
                                                      help="every figure behind the double-pulse cut at this 0νββ "
                                                      "loss (acceptance counted over all 0νββ events)"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as JSON instead of the tables"),
) -> None:
    """The paper's Table I background groups for several runs side by side (klz800)."""
    from ..studies import table_klz800 as t

    prev = t.load_figures(from_json) if from_json else None
    rows = _guard(lambda: t.table_klz800(runs or [], ref, prev, n_boot=n_boot, double_pulse_loss=double_pulse_loss,
                                         log=None if as_json else lambda m: typer.echo(m, err=True)))
    if json_out is not None:
        _write_json(json_out, [x.to_dict() for x in rows], overwrite)
    if as_json:
        _print_json([x.to_dict() for x in rows])
        return
    shown = [x for x in rows if not any(e in x.run for e in exclude or [])]
    out.print(_guard(lambda: t.markdown_tables(shown, ref, spread_ref)), highlight=False, markup=False)


@study_app.command("plot-trainings")
def plot_trainings_cmd(
    table: Path = typer.Argument(..., help="figures saved by `study table-klz800 --json-out`"),
    plot: Path = typer.Option(..., "--out", help="PNG to write"),
    overwrite: bool = typer.Option(False, "--overwrite"),
    exclude: Optional[list[str]] = typer.Option(None, "--exclude", help="leave runs whose path contains this out"),
    models: Optional[list[str]] = typer.Option(None, "--model", help="model:preset to draw (repeatable; default all)"),
) -> None:
    """Per-training rejection of every model (film at fixed energy and position; every group) as a talk plot."""
    from ..io.outputs import check_output
    from ..studies import table_klz800 as t

    check_output(plot, overwrite)
    rows = [x for x in t.load_figures(table) if not any(e in x.run for e in exclude or [])]
    typer.echo(f"wrote {t.plot_trainings(rows, plot, models or None)}")


@study_app.command("compare-table")
def compare_table_cmd(
    runs: list[Path] = typer.Argument(..., help="trained runs evaluated into RUN/eval on the same test files"),
    ref: Path = typer.Option(..., "--ref", help="reference run for the paired differences"),
    bench: Optional[Path] = typer.Option(None, "--bench", help="`scintnet bench models --json` output: adds "
                                         "inference events/s"),
    n_boot: int = typer.Option(500, "--n-boot", min=10),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Markdown table of runs: parameters, FLOPs, training speed, AUC, rejection and paired differences."""
    from ..studies import compare_table as c

    rows = _guard(lambda: c.compare_table(runs, ref, bench, n_boot))
    if as_json:
        _print_json(c.rows_json(rows))
    else:
        out.print(c.markdown(rows, ref), highlight=False, markup=False)


@study_app.command("multisite")
def multisite_cmd(
    eg_run: Path = typer.Option(..., "--eg-run", help="trained electron vs electron-gamma run (e.g. 0nbb vs 10C)"),
    out_dir: Path = typer.Option(Path("out/multisite"), "--out"),
    preset: str = typer.Option("cpu", "--preset", help="KamNet preset of the site model"),
    energy: float = typer.Option(3.0, "--energy-MeV", min=0.5, max=20.0, help="gamma energy"),
    events: int = typer.Option(24000, "--events", min=200, help="training gammas (before the split)"),
    test_events: int = typer.Option(8000, "--test-events", min=100),
    minutes: float = typer.Option(10.0, "--minutes", min=0.1, help="training time limit"),
    e_min: float = typer.Option(2.5, "--e-min-MeV"), e_max: float = typer.Option(3.5, "--e-max-MeV"),
    workers: int = typer.Option(2, "--workers", "-j", min=1),
    seed: int = typer.Option(31, "--seed"),
) -> None:
    """Single- vs multi-site 3 MeV gammas: a site model and how an e/gamma model's score follows it (talk 001)."""
    from ..studies.multisite import multisite_study

    _print_json(_guard(lambda: multisite_study(eg_run, out_dir, preset, energy, events, test_events, minutes,
                                               (e_min, e_max), workers, seed)))


@study_app.command("delayed-light")
def delayed_light_cmd(
    runs: list[Path] = typer.Argument(None, help="evaluated runs (RUN/eval/scores.h5 on the same files)"),
    signal: Path = typer.Option(..., "--signal", help="0νββ test file"),
    background: Path = typer.Option(..., "--background", help="background test file (e.g. ⁹⁰Nb)"),
    group: str = typer.Option(..., "--group", help="its group in RUN/eval/scores.h5"),
    r_max_mm: Optional[float] = typer.Option(None, "--r-max-mm", min=1.0, help="default: the first run's"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Light outside the map window (⁹⁰Nb's delayed γ-rays): its distribution, a cut on it, each run's rejection."""
    from ..studies.delayed_light import delayed_light_study, summary_lines

    res = _guard(lambda: delayed_light_study(signal, background, group, runs or [], r_max_mm))
    if as_json:
        _print_json(res)
    else:
        for line in summary_lines(res):
            out.print(line, highlight=False, markup=False)


@study_app.command("migrate-scores")
def migrate_scores_cmd(
    evals: list[Path] = typer.Argument(..., help="evaluation folders (RUN/eval, RUN/eval_film)"),
    data: list[Path] = typer.Option(..., "--data", help="the test files exactly as given to `scintnet evaluate`"),
    force: bool = typer.Option(False, "--force", help="recompute where already present"),
) -> None:
    """Add the double-pulse variable to scores files of evaluations made before it existed (no re-scoring)."""
    from ..studies.migrate_scores import add_double_pulse

    cache: dict = {}
    for d in evals:
        typer.echo(_guard(lambda: add_double_pulse(d, data, force, cache)))

