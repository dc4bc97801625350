"""Re-make the committed outputs of the course notebooks: run each one top to bottom in SMOKE mode, in place.

    python notebooks/make_outputs.py                      # every notebook
    python notebooks/make_outputs.py 03_tfill_model       # just some (stem or file name)

Run it from a checkout where the package is installed (``pip install -e .``); it also puts the checkout
first on the kernel's ``PYTHONPATH``, so the notebooks always import the code next to them. It executes
the notebooks exactly as committed (the ``parameters`` cell's defaults, ``SMOKE = True``), with the
working directory ``notebooks/`` as nbval and Jupyter use, and then makes the outputs deterministic and
small so that a re-run gives the same file and the diff shows only real changes:

* no execution timestamps, no widget state, no progress bars (tqdm widgets and ``\\r`` bars are dropped);
* timings (``1.2 s``, ``35 ms``, ``"sec_per_step": 0.41``), memory addresses and absolute paths of this
  machine are replaced by placeholders (the same rules as ``nbval_sanitize.cfg``);
* the weights folders are empty temporary folders shown as ``~/.cache/...``, so the listing is the one a
  new user sees, whatever this machine has downloaded;
* pictures wider than ``MAX_WIDTH`` are scaled down and photo-like pictures are stored as JPEG.

Seeds are fixed inside the notebooks; ``PYTHONHASHSEED=0`` and one set of thread settings are used here.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MAX_WIDTH = 1100           # pixels: wider pictures are scaled down
JPEG_ABOVE = 60_000        # bytes: PNGs larger than this are stored as JPEG (photos; plots stay PNG)
JPEG_QUALITY = 80
TIMEOUT = 900              # seconds per cell

PROGRESS = re.compile(r"\r|\d+%\|| it/s\]| s/it\]|\d+it \[")
SUBSTITUTIONS: list[tuple[re.Pattern[str], str]] = [
    # timings: "12.3 s", "0.8 ms", "(3.1s)" and JSON/dict fields of seconds
    (re.compile(r"\b\d+(?:\.\d+)?(?:e-?\d+)? ?(ms|s)\b(?![a-z])"), r"<time> \1"),
    (re.compile(r"(\"?(?:sec_per_step|seconds|elapsed|time_s|wall_s|s_per_step|sec)\"?: )[-+0-9.e]+"), r"\1<time>"),
    # OpenCV log lines carry the seconds since start: "[ WARN:0@0.944]"
    (re.compile(r"\[ ?(WARN|INFO):(\d+)@[0-9.]+\]"), r"[ \1:\2@<time>]"),
    # warnings name the installed file: keep only the part inside site-packages
    (re.compile(r"[^\s'\"]*/site-packages/"), "<site-packages>/"),
    # memory addresses in reprs
    (re.compile(r" at 0x[0-9a-fA-F]+"), " at 0x..."),
]


def sanitise_text(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        text = text.replace(old, new)
    for pattern, new in SUBSTITUTIONS:
        text = pattern.sub(new, text)
    return text


def shrink_picture(data: str) -> tuple[str, str]:
    """A base64 PNG -> (mime type, base64) scaled to MAX_WIDTH, as JPEG when it is a large (photo-like) PNG."""
    from PIL import Image

    raw = base64.b64decode(data)
    im = Image.open(io.BytesIO(raw))
    im.load()
    if im.width > MAX_WIDTH:
        im = im.resize((MAX_WIDTH, round(im.height * MAX_WIDTH / im.width)), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    if buf.tell() > JPEG_ABOVE:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        return "image/jpeg", base64.b64encode(buf.getvalue()).decode("ascii")
    return "image/png", base64.b64encode(buf.getvalue()).decode("ascii")


def clean(nb: nbformat.NotebookNode, replacements: dict[str, str]) -> None:
    """Make the executed notebook deterministic and small (in place)."""
    nb.metadata.pop("widgets", None)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                if "text/plain" in data and PROGRESS.search(data["text/plain"]):
                    continue  # a tqdm bar
                data.pop("application/vnd.jupyter.widget-view+json")  # a live widget: keep its text form
                if not data:
                    continue
            if out.output_type == "stream":
                if out.name == "stderr" and PROGRESS.search(out.text):
                    continue
                out.text = sanitise_text(out.text, replacements)
            for mime in list(data):
                if mime.startswith("text/"):
                    value = data[mime]
                    data[mime] = sanitise_text(value if isinstance(value, str) else "".join(value), replacements)
            if "image/png" in data:
                mime, b64 = shrink_picture(data.pop("image/png"))
                data[mime] = b64
                out.setdefault("metadata", {}).pop("image/png", None)
            if out.output_type == "error":
                out.traceback = [sanitise_text(t, replacements) for t in out.traceback]
            if (out.output_type == "stream" and kept and kept[-1].output_type == "stream"
                    and kept[-1].name == out.name):
                kept[-1].text += out.text  # one stream output per run of prints (chunking depends on timing)
                continue
            kept.append(out)
        cell.outputs = kept


def make(path: Path, env_home: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(HERE)}},
                            record_timing=False)
    client.execute()
    seconds = time.perf_counter() - start
    replacements = {
        str(env_home / "triple_dots"): "~/.cache/triple_dots",
        str(env_home / "torch"): "~/.cache/torch",
        str(env_home): "~/.cache",
        str(HERE) + os.sep: "",            # notebooks/ is the working directory: paths read as relative
        str(REPO): "/path/to/triple_dots",
    }
    clean(nb, replacements)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="stems or file names (default: all)")
    args = parser.parse_args(argv)
    paths = sorted(HERE.glob("[0-9][0-9]_*.ipynb"))
    if args.notebooks:
        wanted = {Path(n).stem for n in args.notebooks}
        unknown = wanted - {p.stem for p in paths}
        if unknown:
            parser.error(f"no such notebook: {', '.join(sorted(unknown))}")
        paths = [p for p in paths if p.stem in wanted]
    with tempfile.TemporaryDirectory(prefix="td_nb_home_") as tmp:
        home = Path(tmp)
        os.environ.update({
            "PYTHONPATH": os.pathsep.join([str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
            "PYTHONHASHSEED": "0",
            "TQDM_DISABLE": "1",
            "TRIPLE_DOTS_HOME": str(home / "triple_dots"),
            "TORCH_HOME": str(home / "torch"),
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        })
        for path in paths:
            seconds = make(path, home)
            size = path.stat().st_size / 1e6
            print(f"{path.name}: executed in {seconds:.0f} s, {size:.2f} MB", flush=True)
    total = sum(p.stat().st_size for p in sorted(HERE.glob("[0-9][0-9]_*.ipynb"))) / 1e6
    print(f"all notebooks: {total:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
