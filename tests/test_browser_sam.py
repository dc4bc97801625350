"""The real browser test: JupyterLab on localhost, headless Chromium, a click on the photo, the saved mask on disk.

The test starts ``jupyter lab`` on 127.0.0.1 (free port, temporary root, no token) with a small
notebook that shows :class:`~triple_dots.segment.widget.SegmentWidget` for a random-weight SAM
vit_b; it drives Debian's ``/usr/bin/chromium`` with Playwright, runs all cells, clicks the photo
(a positive click, then a shift-click = negative), presses "Save mask", and checks the hole mask
written by the kernel against the same clicks segmented here. The kernel reuses the embedding
this process computed (disk cache), so the whole test costs one SAM load and no second encoder run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
import segment_support as sup

from triple_dots.images import read_mask

CHROMIUM = os.environ.get("TRIPLE_DOTS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DISPLAY_WIDTH = 400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook(path: Path, out_dir: Path) -> None:
    code = f"""
from triple_dots.images import read_image
from triple_dots.segment import ClickSegmenter, load_sam
from triple_dots.segment.widget import SegmentWidget

sam = load_sam("vit_b", {str(sup.sam_checkpoint())!r})
seg = ClickSegmenter(sam, margin=6, cache_dir={str(sup.cache_dir())!r})
widget = SegmentWidget(seg, read_image({str(sup.photo_path())!r}), name="photo",
                       out_dir={str(out_dir)!r}, display_width={DISPLAY_WIDTH})
widget
"""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Browser test: click to segment"), nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


class JupyterLab:
    """``jupyter lab`` on 127.0.0.1 in its own process group (so its kernels die with it)."""

    def __init__(self, root: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        env = dict(os.environ)
        for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR"):
            env[var] = str(root.parent / var.lower())
        self.log = open(root.parent / "jupyterlab.log", "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
                "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                f"--ServerApp.root_dir={root}", "--IdentityProvider.token=", "--ServerApp.password=",
                "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                f"--LabApp.workspaces_dir={root.parent / 'workspaces'}",
            ],
            cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"jupyter lab did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


_KERNEL_READY = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && k.connectionStatus === 'connected';
}"""
_CODE_CELL_RAN = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  return !!w && w.content.widgets.some(c => c.model.type === 'code' && c.model.executionCount !== null);
}"""


def _accept_dialog(page) -> None:
    accept = page.locator(".jp-Dialog .jp-mod-accept")  # "Select Kernel" can pop up on a slow kernel start
    if accept.count() and accept.first.is_visible():
        accept.first.click()


def _run_all_when_kernel_ready(page, timeout: float) -> None:
    """Run all cells once the kernel is connected and idle; run again if a slow kernel start dropped the request."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        _accept_dialog(page)
        if page.evaluate(_KERNEL_READY):
            # fire and forget: the command's promise only settles when every cell has run
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            started = time.monotonic()
            while time.monotonic() - started < 30:
                if page.evaluate(_CODE_CELL_RAN) or not page.evaluate(_KERNEL_READY):
                    return  # executed, or busy executing
                time.sleep(0.5)
        time.sleep(0.5)
    raise TimeoutError(f"the kernel never became ready to run the notebook within {timeout:.0f} s")


def _wait_status(page, text: str, timeout: float) -> None:
    """Wait until the widget's status line contains ``text``, accepting a kernel dialog if Lab shows one."""
    status = page.locator(".triple-dots-sam-status").filter(has_text=text)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        _accept_dialog(page)
        if status.count() and status.first.is_visible():
            return
        time.sleep(0.25)
    shown = page.locator(".triple-dots-sam-status").all_inner_texts()
    raise TimeoutError(f"status never showed {text!r} within {timeout:.0f} s; it shows {shown}")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_click_on_the_photo_in_jupyterlab_saves_the_hole_mask(tmp_path: Path) -> None:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) "
                    "or set TRIPLE_DOTS_CHROMIUM to a Chromium binary")
    from playwright.sync_api import sync_playwright

    seg = sup.segmenter()  # computes (or reuses) the embedding and writes it to the disk cache
    root, out_dir = tmp_path / "root", tmp_path / "out"
    root.mkdir()
    _notebook(root / "sam_click.ipynb", out_dir)
    lab = JupyterLab(root, _free_port())
    try:
        lab.wait_ready()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                page.set_default_timeout(60_000)
                page.goto(f"{lab.url}/lab/tree/sam_click.ipynb", timeout=120_000)
                page.wait_for_selector(".jp-Notebook", timeout=120_000)
                page.wait_for_function("window.jupyterapp !== undefined", timeout=60_000)
                _run_all_when_kernel_ready(page, timeout=240)
                _wait_status(page, "0 clicks", 180)  # kernel up, SAM loaded, photo shown

                photo = page.locator("img.triple-dots-sam-photo")
                box = photo.bounding_box()
                assert box is not None and abs(box["width"] - DISPLAY_WIDTH) <= 1, box
                page.mouse.click(box["x"] + 0.50 * box["width"], box["y"] + 0.62 * box["height"])
                _wait_status(page, "1 click (1 positive, 0 negative)", 60)
                page.keyboard.down("Shift")  # shift-click = negative point
                page.mouse.click(box["x"] + 0.50 * box["width"], box["y"] + 0.20 * box["height"])
                page.keyboard.up("Shift")
                _wait_status(page, "2 clicks (1 positive, 1 negative)", 60)
                page.get_by_role("button", name="Save mask").click()
                _wait_status(page, "saved mask to", 60)
            except Exception:
                page.screenshot(path=str(tmp_path / "failure.png"))  # kept in pytest's tmp folder
                raise
            finally:
                browser.close()
    finally:
        lab.stop()
    assert lab.proc.poll() is not None, "the server was stopped"

    mask = read_mask(out_dir / "masks" / "photo.png")
    h, w = seg.size
    assert mask.shape == (1, h, w)
    meta = json.loads((out_dir / "meta" / "photo.json").read_text())
    points = meta["segmenter"]["points"]
    assert [p[2] for p in points] == [1, 0]
    scale = DISPLAY_WIDTH / w
    tol = 2 / scale + 1  # a pixel of rounding in the browser, mapped back to photo pixels
    assert abs(points[0][0] - 0.50 * w) <= tol and abs(points[0][1] - 0.62 * h) <= tol, points
    assert abs(points[1][0] - 0.50 * w) <= tol and abs(points[1][1] - 0.20 * h) <= tol, points
    # the kernel's mask is what the library gives for those clicks here
    seg.set_image(sup.photo())
    expected = seg.segment([tuple(p) for p in points], margin=meta["margin"])
    mismatch = float((mask != expected).float().mean())
    assert mismatch < 1e-3, f"{mismatch:.4%} of pixels differ from the library's mask for the same clicks"
