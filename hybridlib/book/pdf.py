"""The whole book as one PDF: ``python -m hybridlib.book.pdf`` (``make pdf``).

Jupyter Book 1 offers two routes to a PDF: ``pdflatex`` (TeX Live, a large install, and
LaTeX's own rendering of every table) and ``pdfhtml`` (the HTML book printed by a
headless Chromium that pyppeteer downloads, which an offline machine cannot). This
module takes the second route with the Chromium already at hand (Debian's works
offline; the browser test uses the same one): Sphinx's ``singlehtml`` builder writes the
executed book into one HTML page, and Chromium prints that page, with MathJax served
from its local copy (``make mathjax``) so that the formulas are typeset offline too.

The chapters must have been executed first (``make book`` does it, from the committed
records); the PDF goes beside the HTML book, ``_build/html/hybrid-pooling.pdf``, where
the intro links to it. The book pipeline prints it after every full build, when a
Chromium is at hand.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hybridlib.book.pipeline import PipelineError, jupyter_book_command, missing_documents
from hybridlib.paths import REPO_ROOT

__all__ = ["PDF_NAME", "build_pdf", "chromium", "local_mathjax", "main", "print_beside_html"]

MATHJAX = Path.home() / ".cache" / "hybridlib" / "mathjax" / "node_modules" / "mathjax" / "es5"
PDF_NAME = "hybrid-pooling.pdf"  # in _build/html/, beside the intro that links to it
PRINT_SECONDS = 60  # virtual time Chromium gives the page (MathJax) before printing


def chromium() -> str:
    """The Chromium to print with: ``$CHROMIUM``, else the first on PATH."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        found = name and shutil.which(name)
        if found:
            return found
    raise PipelineError("Chromium not found: apt-get install chromium, or set CHROMIUM")


def local_mathjax() -> Path | None:
    """MathJax's ``tex-mml-chtml.js`` from ``$HYBRIDLIB_MATHJAX`` or ``make mathjax``'s copy."""
    folder = Path(os.environ.get("HYBRIDLIB_MATHJAX") or MATHJAX)
    script = folder / "tex-mml-chtml.js"
    return script if script.is_file() else None


def _config(root: Path, folder: Path) -> Path:
    """The book's ``_config.yml`` with MathJax loaded from the local copy, in ``folder``."""
    import yaml  # PyYAML comes with jupyter-book

    config = yaml.safe_load((root / "_config.yml").read_text("utf8"))
    # Read from another folder, the configuration's relative paths must be absolute.
    sphinx = config.setdefault("sphinx", {}).setdefault("config", {})
    sphinx["html_static_path"] = [str(root / p) for p in sphinx.get("html_static_path", [])]
    if "bibtex_bibfiles" in config:
        config["bibtex_bibfiles"] = [str(root / p) for p in config["bibtex_bibfiles"]]
    script = local_mathjax()
    if script is None:
        print("note: no local MathJax (make mathjax): the PDF's formulas stay as TeX",
              file=sys.stderr)
    else:
        sphinx["mathjax_path"] = script.resolve().as_uri()
    path = folder / "_config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf8")
    return path


def _root_document(root: Path) -> str:
    """The table of contents' root document (``book/intro``)."""
    import yaml

    return yaml.safe_load((root / "_toc.yml").read_text("utf8"))["root"]


def build_pdf(root: Path = REPO_ROOT, out: Path | None = None) -> Path:
    """Print the executed book in ``root`` to one PDF; return its path.

    Raises:
        PipelineError: if a chapter has not been executed, or a step fails.
    """
    root = Path(root)
    out = Path(out) if out is not None else root / "_build" / "html" / PDF_NAME
    missing = missing_documents(root)
    if missing:
        raise PipelineError("the chapters have not been executed (make book first): "
                            + ", ".join(missing))
    browser = chromium()
    with tempfile.TemporaryDirectory(prefix="hybridlib-pdf-") as scratch:
        scratch = Path(scratch)
        command = [*jupyter_book_command(), "build", str(root), "--builder", "custom",
                   "--custom-builder", "singlehtml", "--config", str(_config(root, scratch)),
                   "--path-output", str(scratch)]
        print("$ " + " ".join(command), flush=True)
        if subprocess.run(command, cwd=root).returncode:
            raise PipelineError("the single-page build failed: see the output above")
        # index.html only redirects to the root document, which holds the whole book; its
        # links are relative to the output's top folder, so it is printed from there.
        single = scratch / "_build" / "singlehtml"
        page = single / f"{_root_document(root)}.html"
        if not page.exists():
            raise PipelineError(f"the single-page build wrote no {page}")
        page = Path(shutil.copy2(page, single / "whole-book.html"))
        out.parent.mkdir(parents=True, exist_ok=True)
        printing = [browser, "--headless", "--no-sandbox", "--disable-gpu",
                    "--allow-file-access-from-files", "--no-pdf-header-footer",
                    f"--virtual-time-budget={PRINT_SECONDS * 1000}",
                    f"--print-to-pdf={out.resolve()}", page.resolve().as_uri()]
        result = subprocess.run(printing, capture_output=True, text=True,
                                timeout=PRINT_SECONDS * 5)
        if result.returncode or not out.exists():
            raise PipelineError(f"Chromium did not print the book (exit {result.returncode}): "
                                + result.stderr.strip()[-500:])
    return out


def print_beside_html(root: Path = REPO_ROOT) -> Path | None:
    """:func:`build_pdf` into the HTML book, or None (with a note) without a Chromium."""
    try:
        chromium()
    except PipelineError as err:
        print(f"note: no PDF of the book: {err}", file=sys.stderr)
        return None
    return build_pdf(root)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hybridlib.book.pdf",
        description=f"Print the executed book to one PDF (_build/html/{PDF_NAME}) with "
        "Chromium.",
        epilog="Execute the chapters first: make book (or python -m hybridlib.book.pipeline).")
    parser.add_argument("--book-dir", default=str(REPO_ROOT),
                        help="the folder the book was executed in (default: the repository)")
    parser.add_argument("--out", default=None, help="the PDF to write")
    args = parser.parse_args(argv)
    try:
        path = build_pdf(Path(args.book_dir), Path(args.out) if args.out else None)
    except (PipelineError, subprocess.TimeoutExpired) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
