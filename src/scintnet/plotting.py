"""One plotting style and one save for every figure scintnet writes (talk-ready PNGs).

Usage::

    from scintnet.plotting import pyplot, save
    plt = pyplot()
    fig, ax = plt.subplots()
    ...
    save(fig, out / "roc.png")

``pyplot()`` selects the non-interactive Agg backend (figures are files, also on a head-less cluster
node) and applies the style once; ``save`` lays the figure out, writes it atomically and closes it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

DPI = 130
# talk-ready defaults: labels readable on a slide at 50 % width, no chart junk
STYLE: dict[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": "viridis",
}

_configured = False


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend with :data:`STYLE` applied (once per process)."""
    global _configured
    import matplotlib

    if not _configured:
        matplotlib.use("Agg")
        matplotlib.rcParams.update(STYLE)
        _configured = True
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: str | Path, dpi: int = DPI, tight: bool = True, **savefig_kw: Any) -> str:
    """Lay out ``fig``, write it to ``path`` (format from the suffix) atomically, close it; returns the path.

    ``savefig_kw`` go to ``fig.savefig`` (e.g. ``bbox_inches="tight"`` with ``tight=False`` where a colorbar
    spans several axes).

    The figure is rendered in memory and renamed into place under ``.NAME.tmp-PID`` -- the temporary
    name of ``scintnet.io.outputs`` (whose clean-up removes it if the writer was killed); written here
    because this module sits below ``io`` in the layering.  The parent folder is created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    if tight:
        fig.tight_layout()
    fig.savefig(buf, format=path.suffix.lstrip(".") or "png", dpi=dpi, **savefig_kw)
    pyplot().close(fig)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return str(path)
