"""Notebooks -> executed chapters -> the HTML book.

The chapters are py:percent notebooks in ``notebooks/``. This module executes each one
with papermill under a run profile, writes the result to ``book/chapters/<stem>.ipynb``
and then builds the book with Jupyter Book (which never executes anything itself:
``execute_notebooks: off``). One command does it all::

    python -m hybridlib.pipeline --profile smoke

Every path is a parameter of the functions below, so tests can point them at a
throwaway copy of the layout.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import nbformat
import papermill
from papermill.exceptions import PapermillExecutionError

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
OUTPUT_DIR = REPO_ROOT / "book" / "chapters"

KERNEL = "python3"
KERNELSPEC = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"  # the tag papermill gives the cell it inserts
# Tags with which a chapter author already decided how the parameters cell shows.
VISIBILITY_TAGS = {"remove-cell", "remove-input", "hide-cell", "hide-input"}
SOURCE_LINES_SHOWN = 4  # of a failing cell, in the error message


class PipelineError(Exception):
    """A problem the user must fix; ``main`` prints it without a traceback."""


@dataclass(frozen=True)
class Chapter:
    """One chapter notebook, e.g. ``notebooks/03_diffstride.py``."""

    source: Path

    @property
    def stem(self) -> str:
        return self.source.stem

    @property
    def name(self) -> str:
        """The part after the number: ``diffstride`` for ``03_diffstride``."""
        return self.stem.split("_", 1)[1]

    @property
    def number(self) -> str:
        return self.stem.split("_", 1)[0]


@dataclass
class Prepared:
    """A chapter read, checked and ready to execute."""

    chapter: Chapter
    notebook: nbformat.NotebookNode
    parameters: dict = field(default_factory=dict)


# --- finding and selecting chapters ------------------------------------------------


def discover(notebook_dir: Path = NOTEBOOK_DIR) -> list[Chapter]:
    """All chapter notebooks (``NN_name.py``), in chapter order."""
    return [Chapter(p) for p in sorted(Path(notebook_dir).glob("[0-9][0-9]_*.py"))]


def select(chapters: Sequence[Chapter], names: Sequence[str] | None) -> list[Chapter]:
    """The chapters named by ``--only`` (by stem, name or number), in chapter order.

    Raises:
        PipelineError: for a name that matches no chapter, listing the valid ones.
    """
    if not names:
        return list(chapters)
    wanted: set[Chapter] = set()
    for name in names:
        matches = [c for c in chapters if name in (c.stem, c.name, c.number)]
        if not matches:
            valid = ", ".join(f"{c.stem} ({c.name})" for c in chapters) or "none found"
            raise PipelineError(f"unknown chapter {name!r}; valid chapters: {valid}")
        wanted.update(matches)
    return [c for c in chapters if c in wanted]


# --- reading and checking notebooks --------------------------------------------------


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read a py:percent notebook and make sure it asks for the ``python3`` kernel.

    papermill needs a kernel name in the notebook's metadata, and a chapter edited on
    a machine with a differently named kernel must still run here.
    """
    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    return nb


def parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode | None:
    """The first code cell tagged ``parameters``, if any."""
    for cell in nb.cells:
        if cell.cell_type == "code" and PARAMETERS_TAG in cell.metadata.get("tags", []):
            return cell
    return None


def declared_parameters(source: str) -> set[str]:
    """Names assigned at the top level of a parameters cell's source."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        for target in targets:
            elements = target.elts if isinstance(target, ast.Tuple) else [target]
            names.update(e.id for e in elements if isinstance(e, ast.Name))
    return names


def parameters_for(declared: set[str], profile: str, force: bool) -> dict:
    """The parameters to inject: the profile always, ``force`` where it is declared.

    ``force`` only means something to chapters that train; the others do not declare
    it and are left alone.
    """
    params: dict = {"profile": profile}
    if force and "force" in declared:
        params["force"] = True
    return params


def prepare(chapter: Chapter, profile: str, force: bool) -> Prepared:
    """Read a chapter and check that it declares every parameter it will be given.

    papermill only logs a warning for an unknown parameter and runs on with the
    notebook's default, which would silently build a book of the wrong profile.

    Raises:
        PipelineError: naming the notebook and the missing parameter.
    """
    nb = read_notebook(chapter.source)
    cell = parameters_cell(nb)
    if cell is None:
        raise PipelineError(f"{chapter.source}: no code cell tagged {PARAMETERS_TAG!r}")
    try:
        declared = declared_parameters(cell.source)
    except SyntaxError as err:
        raise PipelineError(f"{chapter.source}: parameters cell does not parse: {err}") from err
    params = parameters_for(declared, profile, force)
    missing = sorted(set(params) - declared)
    if missing:
        raise PipelineError(
            f"{chapter.source}: parameter(s) {', '.join(missing)} not declared in its "
            f"{PARAMETERS_TAG!r} cell (declared: {', '.join(sorted(declared)) or 'none'})"
        )
    # The defaults stay readable behind a toggle, unless the author chose otherwise.
    tags = cell.metadata.setdefault("tags", [])
    if not VISIBILITY_TAGS & set(tags):
        tags.append("hide-cell")
    return Prepared(chapter, nb, params)


# --- executing -----------------------------------------------------------------------


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables (inherited by the kernel) for the duration."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def hide_injected_cell(path: Path) -> None:
    """Tag papermill's injected-parameters cell ``remove-cell``: the book leaves it out."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if INJECTED_TAG in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(nb, path)


def describe_failure(source: Path, err: PapermillExecutionError) -> str:
    """A message naming the notebook, the failing cell and the error."""
    lines = err.source.splitlines()
    shown = "\n".join("    " + line for line in lines[:SOURCE_LINES_SHOWN])
    more = "\n    ..." if len(lines) > SOURCE_LINES_SHOWN else ""
    return (
        f"{source} failed in the cell executed as In [{err.exec_count}]:\n"
        f"{shown}{more}\n{err.ename}: {err.evalue}"
    )


def execute(
    prepared: Prepared,
    output_dir: Path = OUTPUT_DIR,
    cwd: Path = REPO_ROOT,
    progress_bar: bool = False,
    log_output: bool = False,
) -> Path:
    """Execute one chapter into ``output_dir/<stem>.ipynb`` and return that path.

    The notebook is written under a temporary name and moved into place only once it
    ran to the end, so a failure never leaves an executed notebook that looks valid;
    the failed one is kept as ``<stem>.failed.ipynb`` for its traceback.

    Raises:
        PipelineError: naming the notebook and the failing cell.
    """
    stem = prepared.chapter.stem
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    final = output_dir / f"{stem}.ipynb"
    failed = output_dir / f"{stem}.failed.ipynb"
    partial = output_dir / f".{stem}.partial.ipynb"
    for stale in (final, failed, partial):
        stale.unlink(missing_ok=True)
    try:
        with environment(HYBRIDLIB_PROFILE=prepared.parameters["profile"]):
            papermill.execute_notebook(
                prepared.notebook,
                str(partial),
                parameters=prepared.parameters,
                kernel_name=KERNEL,
                language="python",
                cwd=str(cwd),
                progress_bar=progress_bar,
                log_output=log_output,
            )
        hide_injected_cell(partial)
        partial.replace(final)
    except Exception as err:  # a cell's error, or the kernel died or timed out
        if partial.exists():
            partial.replace(failed)
        if isinstance(err, PapermillExecutionError):
            message = describe_failure(prepared.chapter.source, err)
        else:
            message = f"{prepared.chapter.source} stopped: {type(err).__name__}: {err}"
        if failed.exists():
            message += f"\n(executed notebook: {failed})"
        raise PipelineError(message) from err
    finally:
        partial.unlink(missing_ok=True)  # an interrupted or crashed run leaves nothing
    return final


def execute_all(
    chapters: Sequence[Chapter],
    profile: str,
    force: bool = False,
    output_dir: Path = OUTPUT_DIR,
    cwd: Path = REPO_ROOT,
    progress_bar: bool = False,
    log_output: bool = False,
) -> dict[str, float]:
    """Check every chapter first, then execute them in order; seconds per chapter."""
    # Checking all of them before running any: a typo must not cost an hour of training.
    prepared = [prepare(chapter, profile, force) for chapter in chapters]
    if force and not any("force" in p.parameters for p in prepared):
        print("note: --force has no effect: no selected chapter declares `force`")
    timings: dict[str, float] = {}
    for item in prepared:
        print(f"=== {item.chapter.stem}: executing with {item.parameters}", flush=True)
        start = time.perf_counter()
        execute(item, output_dir, cwd, progress_bar, log_output)
        timings[item.chapter.stem] = time.perf_counter() - start
        print(f"=== {item.chapter.stem}: done in {timings[item.chapter.stem]:.1f} s", flush=True)
    return timings


# --- building the book -----------------------------------------------------------------


def toc_documents(root: Path) -> list[str]:
    """Every document (``root`` and ``file`` entries) that ``_toc.yml`` lists."""
    import yaml  # PyYAML comes with jupyter-book; only the build needs it

    def walk(node) -> Iterator[str]:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    yield node[key]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    return list(walk(yaml.safe_load((Path(root) / "_toc.yml").read_text(encoding="utf8"))))


def missing_documents(root: Path) -> list[str]:
    """Documents of the table of contents that exist in no form (.md, .ipynb)."""
    root = Path(root)
    return [
        doc
        for doc in toc_documents(root)
        if not any((root / f"{doc}{suffix}").exists() for suffix in ("", ".md", ".ipynb"))
    ]


def jupyter_book_command() -> list[str]:
    """The ``jupyter-book`` of this interpreter's environment, not whatever is on PATH."""
    script = Path(sys.executable).parent / "jupyter-book"
    found = str(script) if script.exists() else shutil.which("jupyter-book")
    if not found:
        raise PipelineError("jupyter-book not found: pip install -e '.[book]'")
    return [found]


def build(root: Path = REPO_ROOT) -> Path:
    """Build the HTML book from scratch and return the absolute path of its index.

    Jupyter Book exits 0 on an incremental build whose warnings were reported in an
    earlier run, so the doctrees go first; ``-W -n --keep-going`` then turns every
    warning, broken reference included, into a failure listed in one pass.

    Raises:
        PipelineError: if a page is missing or the build fails.
    """
    root = Path(root)
    missing = missing_documents(root)
    if missing:
        raise PipelineError(
            "the table of contents lists pages that do not exist: "
            + ", ".join(missing)
            + "\n(a chapter is generated by executing its notebook: run without --only once)"
        )
    shutil.rmtree(root / "_build" / ".doctrees", ignore_errors=True)
    shutil.rmtree(root / "_build" / "html", ignore_errors=True)  # no stale pages
    command = [*jupyter_book_command(), "build", str(root), "-W", "-n", "--keep-going"]
    print("$ " + " ".join(command), flush=True)
    returncode = subprocess.run(command, cwd=root).returncode
    if returncode:
        raise PipelineError(f"jupyter-book build failed (exit {returncode}): see the output above")
    index = root / "_build" / "html" / "index.html"
    if not index.exists():
        raise PipelineError(f"jupyter-book build wrote no {index}")
    return index.resolve()


# --- command line ----------------------------------------------------------------------

EXAMPLES = """\
examples:
  every chapter on tiny data, then the book (seconds per chapter):
    python -m hybridlib.pipeline --profile smoke
  the published book, from the committed run records:
    python -m hybridlib.pipeline --profile cpu
  rerun one chapter without building the book:
    python -m hybridlib.pipeline --only diffstride --no-build
  retrain the training chapter's runs, then rebuild the book:
    python -m hybridlib.pipeline --only training results --force
  the paper-scale reproduction (CUDA GPU, days):
    python -m hybridlib.pipeline --profile paper

The book ends up in _build/html/index.html.
"""


def available_profiles() -> dict:
    """The run profiles, name -> settings, from ``hybridlib.configs``."""
    from hybridlib.configs import PROFILES  # imported late: only the CLI needs it

    return PROFILES


def build_parser(profiles: Sequence[str]) -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m hybridlib.pipeline",
        description="Execute the chapter notebooks under a run profile and build the book.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--profile",
        choices=sorted(profiles),
        default="cpu",
        help="run profile passed to every chapter (default: %(default)s)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        action="extend",
        metavar="CHAPTER",
        help="execute only these chapters, by stem (03_diffstride), name (diffstride) "
        "or number (03); the other chapters' last executed notebooks are reused",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="retrain runs whose records already exist (chapters that declare `force`)",
    )
    parser.add_argument(
        "--no-build", action="store_true", help="execute the chapters, skip the book build"
    )
    parser.add_argument(
        "--log-output", action="store_true", help="stream the cells' outputs while executing"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser(available_profiles()).parse_args(argv)
    if args.log_output:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.perf_counter()
    index = None
    try:
        chapters = select(discover(NOTEBOOK_DIR), args.only)
        if not chapters:
            raise PipelineError(f"no chapter notebooks (NN_name.py) in {NOTEBOOK_DIR}")
        timings = execute_all(
            chapters,
            args.profile,
            force=args.force,
            output_dir=OUTPUT_DIR,
            cwd=REPO_ROOT,
            progress_bar=sys.stderr.isatty(),
            log_output=args.log_output,
        )
        if not args.no_build:
            build_start = time.perf_counter()
            index = build(REPO_ROOT)
            timings["(book build)"] = time.perf_counter() - build_start
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("\ntimings:")
    for step, seconds in timings.items():
        print(f"  {step:<24} {seconds:8.1f} s")
    print(f"  {'total':<24} {time.perf_counter() - start:8.1f} s")
    if index is not None:
        print(f"\nbook: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
