"""Helpers every CLI module shares: the consoles, the one-line error exit, JSON output, the config loader.

Their own module (not the package ``__init__``) so that the stage modules can import them without the
package importing the stages back (an import cycle).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

err = Console(stderr=True)
out = Console()

# --debug (or SCINTNET_DEBUG=1): let exceptions through with their traceback instead of one line
DEBUG = {"on": os.environ.get("SCINTNET_DEBUG", "") not in ("", "0")}


def _error_line(exc: BaseException) -> str:
    """One line for an exception that reached the CLI: the message of bad input, a hint for a bug."""
    from ..errors import ScintnetError

    if isinstance(exc, ScintnetError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:  # a file the user named: missing, a folder, no permission
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    if isinstance(exc, MemoryError):
        return "out of memory (try fewer events per chunk or a smaller batch)"
    return (f"internal error {type(exc).__name__}: {exc} -- this is a bug in scintnet; rerun with "
            "`scintnet --debug ...` for the traceback and report it")


def _finite_floats(cmd) -> None:
    """Make every float option/argument of ``cmd`` (and of its subcommands) refuse NaN and infinities."""
    import math

    def bad(v) -> bool:
        if isinstance(v, float):
            return not math.isfinite(v)
        return isinstance(v, (list, tuple)) and any(isinstance(x, float) and not math.isfinite(x) for x in v)

    for p in getattr(cmd, "params", []):
        if getattr(p, "_scintnet_finite", False):
            continue
        orig = p.process_value

        def process_value(ctx, value, _orig=orig, _p=p):
            v = _orig(ctx, value)
            if bad(v):
                raise typer.BadParameter(f"{v!r} is not a finite number", ctx=ctx, param=_p)
            return v

        p.process_value = process_value
        p._scintnet_finite = True
    if hasattr(cmd, "commands"):
        for sub in cmd.commands.values():
            _finite_floats(sub)


class SafeGroup(TyperGroup):
    """The top-level command group: any exception a command lets through becomes one ``error:`` line, exit 2;
    usage errors (a bad option value, a missing option) are one line too; float options refuse NaN / inf."""

    def get_command(self, ctx, cmd_name):  # type: ignore[override]
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            _finite_floats(cmd)
        return cmd

    def main(self, *args, standalone_mode: bool = True, **kwargs):  # type: ignore[override]
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except typer.BadParameter.__mro__[2] as exc:  # click's ClickException: usage errors
            if type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()
                sys.exit(exc.exit_code)
            ctx = getattr(exc, "ctx", None)
            where = f"{ctx.command_path}: " if ctx is not None else ""
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            err.print(f"[red]error:[/red] {escape(where + ' '.join(exc.format_message().split()) + hint)}",
                      highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            err.print("[red]error:[/red] aborted", highlight=False)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.BadParameter.__mro__[2], KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            if DEBUG["on"]:
                raise
            msg = _error_line(exc)
            err.print(f"[red]error:[/red] {escape(' '.join(msg.split())[:600])}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None


def _fail(msg: str) -> None:
    err.print(f"[red]error:[/red] {escape(' '.join(str(msg).split()))}", highlight=False, soft_wrap=True)
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
