"""Helpers every CLI module shares: the consoles, the one-line error exit, JSON output, the config loader.

Their own module (not the package ``__init__``) so that the stage modules can import them without the
package importing the stages back (an import cycle).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

err = Console(stderr=True)
out = Console()


def _fail(msg: str) -> None:
    err.print(f"[red]error:[/red] {' '.join(str(msg).split())}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _jsonable(x: Any) -> Any:
    import numpy as np

    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x


def _print_json(d: dict) -> None:
    sys.stdout.write(json.dumps(_jsonable(d), indent=2, sort_keys=False) + "\n")


def _load_cfg(preset: str, config: Optional[Path], overrides: Optional[list[str]]):
    from ..detector.config import ConfigError, load_config

    try:
        return load_config(preset, config, overrides)
    except ConfigError as exc:
        _fail(str(exc))


PresetOpt = typer.Option("klz800", "--preset", "-p", help="detector preset (klz800, klz400-fast, kl2zen)")
ConfigOpt = typer.Option(None, "--config", help="detector TOML file (instead of a preset)")
SetOpt = typer.Option(None, "--set", help="override a config field, e.g. --set scintillator.light_yield_per_MeV=9000")
