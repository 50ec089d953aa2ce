"""CLI commands for physics analysis (sensitivity, fit, limits)."""

from __future__ import annotations

import typer


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this stage's commands to the main app (and benchmarks to ``scintnet bench``)."""
