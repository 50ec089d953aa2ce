"""Command-line interface (thin: parses options, calls library functions, prints).

This module only builds the root app (its callback: --debug, --executor, --address) and mounts the stages.
Each stage is a module with a module-level Typer ``app`` of top-level commands (``cli/sim.py``,
``cli/reco.py``, ``cli/train.py``, ``cli/analysis.py``, ``cli/tagging.py``, ``cli/display.py``), merged
into the root without a group name, and where it has benchmarks a ``bench_app`` merged into
``scintnet bench``; the stages with their own group (``sparse``, ``jets``, ``accel``, ``calibrate``, ``study``) mount under that name.
The helpers they share are in ``cli/_common.py``; nothing in ``cli/`` imports this module.
"""

from __future__ import annotations

import os
from typing import Optional

import typer

from . import accel, analysis, calib, clean, display, jets, reco, sim, sparse, study, tagging, train
from ._common import DEBUG, SafeGroup

app = typer.Typer(add_completion=False, no_args_is_help=True, cls=SafeGroup, pretty_exceptions_enable=False,
                  help="scintnet: simulation, reconstruction and deep learning for spherical LS detectors.")
bench_app = typer.Typer(no_args_is_help=True, help="Throughput benchmarks.")


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="show the Python traceback of an unexpected error"),
          executor: str = typer.Option(os.environ.get("SCINTNET_EXECUTOR", "local"), "--executor",
                                       help="local | dask: where parallel tasks run (simulation chunks, toys, ...)"),
          address: Optional[str] = typer.Option(os.environ.get("SCINTNET_DASK_ADDRESS"), "--address",
                                                help="Dask scheduler address (tcp://host:8786); none: a local "
                                                "cluster of --workers processes")) -> None:
    from ..executor import set_default_executor

    if debug:
        DEBUG["on"] = True
    if executor != "dask" and address is not None and address == os.environ.get("SCINTNET_DASK_ADDRESS"):
        address = None  # an exported scheduler address applies only when the Dask executor is chosen
    set_default_executor(executor, address)


# the order of `scintnet --help` and `scintnet bench --help`: the stages' commands in this order, then the groups
for _stage in (sim, reco, train, analysis, tagging, clean, display):
    app.add_typer(_stage.app)  # no name: the stage's commands become top-level commands
for _stage in (sim, reco, train, analysis):
    bench_app.add_typer(_stage.bench_app)
app.add_typer(bench_app, name="bench")
app.add_typer(sparse.sparse_app, name="sparse")
app.add_typer(jets.jets_app, name="jets")
app.add_typer(accel.accel_app, name="accel")
app.add_typer(calib.calibrate_app, name="calibrate")
app.add_typer(study.study_app, name="study")
del _stage


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
