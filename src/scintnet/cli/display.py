"""CLI: ``scintnet display`` (a self-contained HTML event display)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._common import _fail, _print_json, out

app = typer.Typer()


@app.command("display")
def display_cmd(
    path: Optional[Path] = typer.Argument(None, help="event file (or use --source to simulate one event)"),
    event: int = typer.Option(0, "--event", "-e", min=0, help="event index in the file"),
    source: Optional[str] = typer.Option(None, "--source", "-s", help="simulate one event of this source instead"),
    preset: str = typer.Option("klz800", "--preset", "-p", help="detector preset for --source"),
    seed: int = typer.Option(1, "--seed", help="seed for --source"),
    run: Optional[Path] = typer.Option(None, "--run", help="training run: its score and attention S(t)"),
    out_path: Path = typer.Option(..., "--out", "-o", help="output HTML file"),
    no_reco: bool = typer.Option(False, "--no-reco", help="do not reconstruct (proper times from the true vertex)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing --out"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Write one self-contained HTML page showing an event (sphere, Mollweide map, time slices, vertices)."""
    import tempfile

    from ..display.event import event_payload, write_event_page
    from ..io.outputs import check_output

    if (path is None) == (source is None):
        _fail("give an event FILE or --source NAME (not both)")
    check_output(out_path, overwrite)
    with tempfile.TemporaryDirectory(prefix="scintnet-display-") as tmp:
        if source is not None:
            from ..detector.config import load_config
            from ..sim.run import SimConfig, run_simulation

            cfg = load_config(preset)
            path = Path(tmp) / f"{source}.h5"
            run_simulation(SimConfig.for_detector(cfg, source, event + 1, seed, chunk_size=event + 1), path)
        payload = event_payload(path, event, run=run, reconstruct=not no_reco)
        page = write_event_page(payload, out_path, overwrite=overwrite)
    res = {"out": str(page), "bytes": page.stat().st_size, "event": event, "source": payload["source"],
           "nhit": payload["nhit"], "reco": payload["reco"]}
    if as_json:
        _print_json(res)
    else:
        out.print(f"wrote {page} ({res['bytes'] / 1e3:.0f} kB, {res['nhit']} hits, {payload['source']})",
                  highlight=False)
