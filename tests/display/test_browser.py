"""The event display and the HTML report in a real browser (headless Chromium driven by Playwright).

Chromium comes from the system (Debian's ``chromium`` package; ``.ci/run`` installs it in CI); Playwright's
Python package drives it with ``executable_path`` and downloads no browser.  Outside CI the tests skip when no
Chromium is found; in CI (``CI=true``) a missing browser is a failure, so the tests cannot silently vanish.
"""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from scintnet.detector.config import load_config
from scintnet.detector.pmts import build_pmt_array
from scintnet.display.event import event_page, event_payload
from scintnet.sim.run import SimConfig, run_simulation

DATA = Path(__file__).parents[1] / "data"  # tests/data: files of earlier versions, reference images

REF = DATA / "display_sphere_ref.png"
DOCS_IMG = Path(__file__).parents[2] / "docs" / "img" / "display"


def _chromium() -> str | None:
    return os.environ.get("SCINTNET_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    exe = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if exe is None or sync_playwright is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Chromium and playwright for the browser tests (.ci/run installs them)")
        pytest.skip("no Chromium / playwright on this machine")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu",
                                                         "--disable-background-networking",
                                                         "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def _open(browser, path: Path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    page.goto(path.as_uri())
    page.wait_for_function("window.SN_DISPLAYS && window.SN_DISPLAYS.length > 0")
    return page, errors, requests


_PIXELS = """(sel) => { const c = document.querySelector(sel); const g = c.getContext('2d');
  const d = g.getImageData(0, 0, c.width, c.height).data; let n = 0, h = 0;
  for (let i = 0; i < d.length; i += 4) { if (d[i + 3] > 0 && (d[i] < 240 || d[i + 1] < 240 || d[i + 2] < 240)) n++;
    h = (h * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) % 1000000007; }
  return [n, h]; }"""


@pytest.fixture(scope="module")
def event_file(tmp_path_factory):
    cfg = load_config("klz400-fast")
    p = tmp_path_factory.mktemp("disp") / "xe.h5"
    run_simulation(SimConfig.for_detector(cfg, "Xe136_0vbb", 3, 5, chunk_size=3), p)
    return p


def test_page_is_self_contained(event_file, tmp_path):
    payload = event_payload(event_file, 1, reconstruct=False)
    html = event_page(payload)
    assert "http://" not in html and "https://" not in html and "<script src" not in html
    assert len(html) < 400_000
    assert payload["spec"]["n_t"] == 28 and len(payload["hits"]["slice"]) == payload["nhit"] > 0
    # eq. 1-2: T0 is the charge-weighted mean of T_raw - TOF, so the charge-weighted mean proper time is 0
    tau, q = np.array(payload["hits"]["tau_ns"]), np.array(payload["hits"]["q_pe"])
    assert abs(np.sum(q * tau) / np.sum(q)) < 0.05
    assert payload["deposits"] is not None  # stored truth sites are drawn


def test_display_in_chromium(browser, event_file, tmp_path):
    from typer.testing import CliRunner

    from scintnet.cli import app

    out = tmp_path / "e.html"
    res = CliRunner().invoke(app, ["display", str(event_file), "--event", "0", "--out", str(out), "--no-reco"])
    assert res.exit_code == 0, res.output
    page, errors, requests = _open(browser, out)
    n0, h0 = page.evaluate(_PIXELS, ".sn-sphere")
    m0, _ = page.evaluate(_PIXELS, ".sn-mollweide")
    assert n0 > 2000 and m0 > 2000  # not blank: the PMTs and the hits are drawn
    page.fill(".sn-slider", "10")
    page.dispatch_event(".sn-slider", "input")
    n1, h1 = page.evaluate(_PIXELS, ".sn-sphere")
    assert h1 != h0 and n1 < n0  # an early slice shows fewer hits than all 28
    state = page.evaluate("() => { const d = window.SN_DISPLAYS[0]; return [d.slice, d.nDrawn]; }")
    assert state[0] == 10
    early = sum(1 for s in json.loads(page.evaluate("() => JSON.stringify(window.SN_DISPLAYS[0].d.hits.slice)"))
                if s <= 10)
    assert state[1] == early  # exactly the hits of slices 0..10 are drawn
    page.select_option(".sn-color", "q")
    assert page.evaluate(_PIXELS, ".sn-sphere")[1] != h1
    page.click(".sn-play")
    page.wait_for_timeout(700)
    assert page.evaluate("() => window.SN_DISPLAYS[0].slice") != 10  # play steps through the slices
    page.click(".sn-play")
    # frame rate: redraw every slice
    ms = page.evaluate("() => { const d = window.SN_DISPLAYS[0]; const t = performance.now();"
                       " for (let i = 0; i < 28; i++) d.setSlice(i); return (performance.now() - t) / 28; }")
    assert ms < 200
    assert not errors, errors
    assert not requests, requests  # nothing fetched
    if os.environ.get("SCINTNET_UPDATE_DOC_IMAGES"):
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_IMG / "event.png"), full_page=True)


def _synthetic_payload():
    """A display payload that depends on nothing but a fixed seed (the stored reference screenshot's event)."""
    cfg = load_config("klz400-fast")
    pos = build_pmt_array(cfg).pos_mm
    rng = np.random.default_rng(7)
    pmt = rng.choice(len(pos), 400, replace=False)
    d = pos[pmt] / np.linalg.norm(pos[pmt], axis=1)[:, None]
    tau = np.where(d[:, 2] > 0.3, rng.normal(-8, 3, 400), rng.normal(8, 5, 400))  # a time pattern to see
    q = rng.exponential(1.0, 400) + 0.3
    spec = {"n_t": 28, "t_min_ns": -20.0, "t_max_ns": 22.0, "dt_ns": 1.5}
    sl = np.clip(np.floor((tau + 20) / 1.5), 0, 27).astype(int)
    return {"version": 1, "file": "synthetic.h5", "event": 0, "source": "synthetic", "vertex_spec": "", "detector": cfg.name,
            "pmt_radius_mm": cfg.geometry.pmt_radius_mm, "balloon_radius_mm": cfg.geometry.balloon_radius_mm,
            "pmt_pos_mm": np.round(pos).ravel().tolist(),
            "hits": {"pmt": pmt.tolist(), "t_ns": tau.round(2).tolist(), "tau_ns": tau.round(2).tolist(),
                     "q_pe": q.round(2).tolist(), "slice": sl.tolist()},
            "spec": spec, "vertex_true_mm": [500.0, 0.0, 300.0], "vertex_reco_mm": [540.0, 20.0, 280.0],
            "reco": "synthetic", "energy_reco_MeV": 2.5, "evis_true_MeV": 2.45, "npe": 600, "nhit": 400,
            "deposits": {"pos_mm": [500.0, 0.0, 300.0, 560.0, 40.0, 330.0], "edep_MeV": [1.5, 0.9]},
            "attention": {"model": "synthetic", "score": 0.8, "values": (np.arange(14) / 14.0).round(3).tolist(),
                          "t_edges_ns": np.linspace(-20, 22, 15).round(3).tolist()},
            "tau_vertex": "reco"}


def _gray_blocks(png: Path, n: int = 32) -> np.ndarray:
    import matplotlib.image as mpimg

    a = mpimg.imread(str(png))[..., :3].mean(axis=2)
    h, w = (a.shape[0] // n) * n, (a.shape[1] // n) * n
    return a[:h, :w].reshape(n, h // n, n, w // n).mean(axis=(1, 3))


def test_screenshot_matches_reference_loosely(browser, tmp_path):
    out = tmp_path / "synthetic.html"
    out.write_text(event_page(_synthetic_payload()))
    page, errors, _ = _open(browser, out)
    shot = tmp_path / "sphere.png"
    page.locator(".sn-sphere").screenshot(path=str(shot))
    assert not errors, errors
    if os.environ.get("SCINTNET_UPDATE_REFERENCE") or not REF.exists():
        if os.environ.get("CI"):
            pytest.fail(f"reference screenshot {REF} missing")
        REF.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, REF)
    a, b = _gray_blocks(shot), _gray_blocks(REF)
    assert np.abs(a - b).mean() < 0.03, "the sphere view differs from the stored reference"
    # and the comparison can fail: a rotated view is different
    page.evaluate("() => { const d = window.SN_DISPLAYS[0]; d.yaw += 1.2; d.draw(); }")
    page.locator(".sn-sphere").screenshot(path=str(tmp_path / "rot.png"))
    assert np.abs(_gray_blocks(tmp_path / "rot.png") - b).mean() > np.abs(a - b).mean()


def test_html_report_in_chromium(browser, event_file, tmp_path):
    from scintnet.display.report import write_html_report

    rep = tmp_path / "rep"
    rep.mkdir()
    (rep / "README.md").write_text("# scintnet report: test\n\n> **Warning:** a warning\n\n| a | b |\n|---|---|\n"
                                   "| 1 | 2 |\n")
    (rep / "summary.json").write_text(json.dumps({"evaluation": {"data_files": [str(event_file)],
                                                                  "selection": {"e_min_MeV": 0, "e_max_MeV": 100}}}))
    res = write_html_report(rep, None, None, n_events=2, reconstruct=False)
    assert len(res["events"]) == 2
    page, errors, requests = _open(browser, Path(res["html"]))
    assert page.locator("table").count() == 1 and page.locator(".sn-warn").count() == 1
    assert page.evaluate("() => window.SN_DISPLAYS.length") == 2
    assert page.evaluate(_PIXELS, "#ev1 .sn-sphere")[0] > 2000
    assert not errors and not requests, (errors, requests)
