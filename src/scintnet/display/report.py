"""``scintnet report RUN --html``: the report as one self-contained HTML page with example event displays.

The page holds everything of the markdown report (training table and curves, the evaluation table with the
floors, the fixed-energy figures and the KamNet paper's value, ROC, score spectra, attention, the
simulation-validation table and plots), every image inlined as a data URI, and a few events of each class of
the evaluation's data files in the interactive display (:mod:`scintnet.display.event`), scored by the run's
model with its attention S(t).  Nothing is fetched when the page is viewed.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..io.outputs import write_text_atomic
from ..io.store import EventFile
from .event import event_div, event_payload, page_head


def _inline_images(body: str, folder: Path) -> str:
    """Replace ``<img src="x.png">`` of files in ``folder`` with data URIs."""
    def sub(m: re.Match) -> str:
        src = m.group(2)
        p = folder / src
        if src.startswith("data:") or not p.is_file():
            return m.group(0)
        kind = "png" if p.suffix.lower() == ".png" else p.suffix.lower().lstrip(".")
        data = base64.b64encode(p.read_bytes()).decode()
        return f'{m.group(1)}data:image/{kind};base64,{data}"{m.group(3)} class="sn-plot"'
    return re.sub(r'(<img[^>]*?src=")([^"]+)"([^>]*?)', sub, body)


def example_events(path: str | Path, selection: dict[str, float] | None, n: int = 2) -> list[int]:
    """The first ``n`` events of a file inside the selection's true energy window and radius."""
    with EventFile(path) as f:
        m = min(f.n_events, 5000)
        e = f.h5["truth/evis_MeV"][:m]
        r = np.linalg.norm(f.h5["truth/vertex_mm"][:m], axis=1)
    ok = np.ones(m, bool)
    if selection:
        ok &= (e >= selection.get("e_min_MeV", -np.inf)) & (e < selection.get("e_max_MeV", np.inf))
        ok &= r < selection.get("r_max_mm", np.inf)
    idx = np.flatnonzero(ok)[:n]
    return [int(i) for i in (idx if idx.size else np.arange(min(n, m)))]


def write_html_report(report_dir: str | Path, run_dir: str | Path | None = None, eval_dir: str | Path | None = None,
                      n_events: int = 2, data_files: list[str] | None = None, name: str = "index.html",
                      log=None, reconstruct: bool = True) -> dict[str, Any]:
    """Write ``report_dir/index.html`` from the markdown report in ``report_dir`` (``scintnet report``).

    ``data_files``: where to take the example events (default: the evaluation's data files); ``n_events``
    per file.  Returns the page path, its size and the events shown.
    """
    from markdown_it import MarkdownIt

    report_dir = Path(report_dir)
    md = (report_dir / "README.md").read_text()
    summary = json.loads((report_dir / "summary.json").read_text()) if (report_dir / "summary.json").exists() else {}
    ev = summary.get("evaluation", {})
    body = MarkdownIt("commonmark").enable("table").render(md)
    body = body.replace("<blockquote>", '<blockquote class="sn-warn">')
    body = _inline_images(body, report_dir)
    vplots = (summary.get("validate_sim") or {}).get("plots", [])
    if vplots:
        body += "<h2>Simulation validation plots</h2>\n"
        for p in vplots:
            p = Path(p)
            if p.is_file() and p.suffix.lower() == ".png":
                body += (f'<img class="sn-plot" alt="{html.escape(p.name)}" src="data:image/png;base64,'
                         f'{base64.b64encode(p.read_bytes()).decode()}">\n')
    files = list(data_files) if data_files else list(ev.get("data_files", []))
    shown = []
    if files and n_events > 0:
        body += ("<h2>Example events</h2>\n<p>Events inside the selection (true energy and radius) from each "
                 "evaluation file, scored by this run's model; the bars are its attention S(t) over the time "
                 "slices.</p>\n")
        for f in files:
            if not Path(f).exists():
                body += f"<p>({html.escape(str(f))} not found: no example events)</p>\n"
                continue
            for i in example_events(f, ev.get("selection"), n_events):
                if log:
                    log(f"display: event {i} of {f}")
                payload = event_payload(f, i, run=run_dir, reconstruct=reconstruct)
                body += event_div(payload, f"ev{len(shown)}")
                shown.append({"file": str(f), "event": i, "source": payload["source"],
                              "score": (payload.get("attention") or {}).get("score")})
    title = md.splitlines()[0].lstrip("# ").strip() if md else "scintnet report"
    page = page_head(title) + "<body>\n" + body + "\n</body></html>\n"
    out = write_text_atomic(report_dir / name, page)
    return {"html": str(out), "bytes": out.stat().st_size, "events": shown}
