"""Notebooks -> executed chapters -> the HTML book.

The chapters are py:percent notebooks in ``notebooks/``. This module executes each one
with papermill under a run profile, writes the result to ``book/chapters/<stem>.ipynb``
and then builds the book with Jupyter Book (which never executes anything itself:
``execute_notebooks: off``). One command does it all::

    python -m hybridlib.book.pipeline --profile smoke

Every path is a parameter of the functions below, so tests can point them at a
throwaway copy of the layout.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import jupytext
import nbformat
import papermill
from nbclient.exceptions import CellTimeoutError
from papermill.exceptions import PapermillExecutionError
from traitlets.config import Config

from hybridlib.argtypes import number
from hybridlib.paths import REPO_ROOT, runs_root

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
OUTPUT_DIR = REPO_ROOT / "book" / "chapters"

KERNEL = "python3"
KERNELSPEC = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"  # the tag papermill gives the cell it inserts
# Tags with which a chapter author already decided how the parameters cell shows.
VISIBILITY_TAGS = {"remove-cell", "remove-input", "hide-cell", "hide-input"}
SOURCE_LINES_SHOWN = 4  # of a failing cell, in the error message
# The most a cell's outputs may hold in an executed chapter (text, images, all of them):
# a chapter stuck printing in a loop fails, naming the cell, instead of being published.
CELL_OUTPUT_LIMIT = 8 << 20
SETUP_TAG = "book-setup"  # the first cell: installs the library where it is missing
# Overrides the repository a notebook's setup cell installs from and fetches the run
# records from (a fork's mirror, or a local clone in the tests); the book's own is
# ``repository.url`` of _config.yml.
REPOSITORY_ENV = "HYBRIDLIB_REPOSITORY"
# The one setting for what the setup cell installs: ``URL@COMMIT``, or ``URL`` for this
# checkout's commit; unset, ``repository.url`` of _config.yml at this checkout's commit.
SETUP_SOURCE_ENV = "HYBRIDLIB_SETUP_SOURCE"
STAMP_SUFFIX = ".stamp.json"  # `.<stem>.stamp.json`: what a chapter was executed from


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


def read_notebook(path: Path, setup: bool = True) -> nbformat.NotebookNode:
    """Read a py:percent notebook and make sure it asks for the ``python3`` kernel.

    papermill needs a kernel name in the notebook's metadata, and a chapter edited on
    a machine with a differently named kernel must still run here. With ``setup``, the
    notebook starts with :func:`setup_cell`, so that it also runs where the library is
    not installed (Colab).
    """
    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    if setup:
        nb.cells.insert(0, setup_cell(install_spec()))
    return nb


def repository_url(root: Path = REPO_ROOT) -> str:
    """The book's repository (``repository.url`` of ``_config.yml``), without a trailing /.

    It is the one place the repository is named: the launch buttons, the setup cell's
    install and its fetch of the run records all read it. A fork changes it there.
    """
    import yaml  # PyYAML comes with jupyter-book

    path = Path(root) / "_config.yml"
    try:
        config = yaml.safe_load(path.read_text(encoding="utf8"))
    except (OSError, yaml.YAMLError) as err:
        raise PipelineError(f"{path}: cannot read the book's configuration ({err})") from err
    url = ((config or {}).get("repository") or {}).get("url")
    if not isinstance(url, str) or not url.strip():
        raise PipelineError(f"{path}: repository.url must name the book's repository")
    return url.strip().rstrip("/")


def book_commit(root: Path = REPO_ROOT) -> str | None:
    """The commit the book is built from: ``$GITHUB_SHA`` on GitHub, else git's ``HEAD``."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


class SetupPinWarning(UserWarning):
    """The commit a setup cell pins may not install what this checkout holds."""


_PIN_WARNED: set[str] = set()


def parse_setup_source(value: str) -> tuple[str, str | None]:
    """``"URL@COMMIT"`` -> ``(URL, COMMIT)``; ``"URL"`` -> ``(URL, None)``.

    The commit is what follows the last ``@`` of the last path segment, so that
    ``git@github.com:me/fork`` is a URL without one.
    """
    value = value.strip()
    head, at, tail = value.rpartition("@")
    if at and head and tail and "/" not in tail and ":" not in tail:
        return head.rstrip("/"), tail
    return value.rstrip("/"), None


def setup_source(root: Path = REPO_ROOT) -> tuple[str, str | None]:
    """The repository and commit the notebooks' setup cells install from.

    One setting decides them, ``$HYBRIDLIB_SETUP_SOURCE`` (``URL@COMMIT``, or ``URL`` for
    the commit checked out here); unset, they are ``repository.url`` of ``_config.yml``
    and :func:`book_commit`. A commit that students could not install is worth a
    :class:`SetupPinWarning` (see :func:`pin_problems`), said once per process.
    """
    url, commit = parse_setup_source(os.environ.get(SETUP_SOURCE_ENV, "") or "")
    url = url or repository_url(root)
    checked_out = commit is None
    commit = commit or book_commit(root)
    if commit and not os.environ.get("GITHUB_SHA"):  # on GitHub the commit was pushed
        for problem in pin_problems(str(root), url, commit, checked_out):
            if problem not in _PIN_WARNED:  # every notebook asks; one warning is enough
                _PIN_WARNED.add(problem)
                # Attributed to the setup cell, not to a line of this file, which would
                # only add noise to the message.
                warnings.warn_explicit(problem, SetupPinWarning, "setup cell", 0)
    return url, commit


def _git(root: str, *args: str) -> str | None:
    """``git -C root ARGS``'s output, or None where git fails or is missing."""
    try:
        out = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True,
                             timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def _same_repository(a: str, b: str) -> bool:
    """Whether two remote URLs name one repository (https or ssh form, .git or not)."""

    def key(url: str) -> str:
        url = url.strip().rstrip("/").removesuffix(".git")
        if "://" not in url and ":" in url:  # git@github.com:owner/repo
            url = "ssh://" + url.replace(":", "/", 1)
        host_path = url.split("://", 1)[-1].split("@")[-1]
        return host_path.lower()

    return key(a) == key(b)


@lru_cache(maxsize=8)
def pin_problems(root: str, url: str, commit: str, checked_out: bool = True) -> tuple[str, ...]:
    """Why a setup cell pinning ``url@commit`` may not install this checkout's library.

    * the checkout has uncommitted changes to tracked files (when ``checked_out``, the
      commit being this checkout's): the pin installs the commit without them;
    * no branch of a git remote that points at ``url`` contains ``commit``: students'
      installs would fail (a local commit not pushed, or a fork's commit pinned to the
      upstream repository), or it cannot be told because no remote points at ``url``.
    """
    if _git(root, "rev-parse", "--git-dir") is None:
        return ()
    problems = []
    short = commit[:12]
    if checked_out:
        changed = [line[3:] for line in (_git(root, "status", "--porcelain",
                                              "--untracked-files=no") or "").splitlines()]
        if changed:
            shown = ", ".join(changed[:5]) + (", ..." if len(changed) > 5 else "")
            problems.append(
                f"the setup cells pin commit {short}, but this checkout has uncommitted "
                f"changes ({len(changed)} file(s): {shown}); a notebook opened outside it "
                "(Colab) installs the library without them. Commit and push them, or ship "
                "changed checks in a module beside the notebooks (see 'For instructors').")
    remotes = {}
    for line in (_git(root, "remote", "-v") or "").splitlines():
        name, _, rest = line.partition("\t")
        if rest.endswith("(fetch)") and _same_repository(rest.rsplit(" ", 1)[0], url):
            remotes[name] = True
    how = (f"set {SETUP_SOURCE_ENV}=URL@COMMIT to a repository and commit students can "
           "install, or push the commit there")
    if not remotes:
        problems.append(
            f"the setup cells pin {url} at commit {short}, but no git remote of this "
            f"checkout points at {url}, so it cannot be checked that the commit is there; "
            f"add one (git remote add upstream {url} && git fetch upstream) or {how}.")
    else:
        refs = (_git(root, "branch", "-r", "--contains", commit,
                     "--format=%(refname:short)") or "").split()
        if not any(ref.split("/", 1)[0] in remotes for ref in refs):
            problems.append(
                f"the setup cells pin {url} at commit {short}, which no branch of "
                f"{', '.join(sorted(remotes))} contains: students' setup cells would fail "
                f"to install it; {how}.")
    return tuple(problems)


def install_spec(url: str | None = None, commit: str | None = None) -> str:
    """The pip requirement of the library with the book's extras, pinned to ``commit``.

    ``url`` and ``commit`` default to :func:`setup_source`; without a commit (no git)
    the repository's default branch is installed.
    """
    if url is None or commit is None:
        default_url, default_commit = setup_source()
        url = url or default_url
        commit = commit if commit is not None else default_commit
    return f"hybridlib[book] @ git+{url}" + (f"@{commit}" if commit else "")


def setup_cell(spec: str, url: str | None = None, commit: str | None = None
               ) -> nbformat.NotebookNode:
    """A first code cell that makes a notebook run outside a checkout of the repository.

    Where ``hybridlib`` is missing (Colab, for one) it installs ``spec``. Where the
    library has no run records beside it (installed from a wheel, its ``results/`` is
    not there), it fetches ``results/`` of ``commit`` from the repository ``url``
    (``$HYBRIDLIB_REPOSITORY`` overrides it) into ``~/.cache/hybridlib``, checks that
    the commit checked out is ``commit``, and points ``$HYBRIDLIB_RESULTS`` at it; a
    fetch that fails says what to do instead. In a checkout (the pipeline, Binder) it
    does nothing. It cannot use the library itself, so it holds the few lines it needs;
    the book leaves it out (``remove-cell``), the .ipynb files keep it.
    """
    if url is None or commit is None:
        default_url, default_commit = setup_source()
        url = url or default_url
        commit = commit if commit is not None else default_commit
    source = (
        "# Where the companion's library is missing (Colab, for one), install it at the\n"
        "# commit this notebook was made from, and fetch the run records of that commit;\n"
        "# in a checkout of the repository this cell does nothing.\n"
        "import importlib, os, subprocess, sys\n"
        "from pathlib import Path\n"
        "try:\n"
        "    import hybridlib.configs  # noqa: F401\n"
        "except ImportError:\n"
        f"    spec = {spec!r}\n"
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", spec], check=True)\n'
        "    importlib.invalidate_caches()\n"
        "try:\n"
        "    from hybridlib.paths import results_root\n"
        "except ImportError:  # the install above failed and said why\n"
        "    results_root = None\n"
        "if results_root is not None and not results_root().is_dir():\n"
        f"    url = os.environ.get({REPOSITORY_ENV!r}) or {url!r}\n"
        f"    commit = {commit!r}\n"
        '    folder = Path.home() / ".cache" / "hybridlib" / f"records-{commit}"\n'
        '    git = lambda *args: subprocess.run(["git", "-C", str(folder), *args],\n'
        "                                       check=True, capture_output=True, text=True)\n"
        "    try:\n"
        '        if not (folder / ".git").is_dir():\n'
        '            subprocess.run(["git", "clone", "--quiet", "--no-checkout", url,\n'
        "                            str(folder)], check=True, capture_output=True, text=True)\n"
        '            git("sparse-checkout", "set", "results")\n'
        '            git("checkout", "--quiet", commit)\n'
        '        head = git("rev-parse", "HEAD").stdout.strip()\n'
        "        if head != commit:\n"
        '            raise ValueError(f"{folder} holds commit {head}, not {commit}")\n'
        '        os.environ["HYBRIDLIB_RESULTS"] = str(folder / "results")\n'
        "    except (OSError, ValueError, subprocess.CalledProcessError) as err:\n"
        '        detail = getattr(err, "stderr", None) or err\n'
        '        print(f"The run records of commit {commit} could not be fetched from {url}: "\n'
        '              f"{detail}. Clone the repository and open this notebook from it, or "\n'
        '              "set HYBRIDLIB_RESULTS to a folder holding results/<profile>/.",\n'
        "              file=sys.stderr)"
    )
    return nbformat.v4.new_code_cell(source, metadata={"tags": [SETUP_TAG, "remove-cell"]})


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


def check_syntax(nb: nbformat.NotebookNode, source: Path) -> None:
    """Parse every code cell (IPython's magics and shell escapes as the kernel reads them).

    Raises:
        PipelineError: naming the notebook, the cell and the line of a syntax error.
    """
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # no IPython: the cells are plain Python, or the kernel fails anyway
        transform = None
    else:
        transform = TransformerManager().transform_cell
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        try:
            code = transform(cell.source) if transform else cell.source
            compile(code, f"{source} cell {index}", "exec",
                    ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        except (SyntaxError, ValueError) as err:  # ValueError: a NUL byte in the source
            line = f", line {err.lineno}" if getattr(err, "lineno", None) else ""
            message = getattr(err, "msg", None) or str(err)
            raise PipelineError(
                f"{source}: cell {index}{line} does not parse: {message}\n"
                f"{_preview(cell.source)}"
            ) from None


def prepare(chapter: Chapter, profile: str, force: bool) -> Prepared:
    """Read a chapter, check that every code cell parses and that it declares every
    parameter it will be given.

    papermill only logs a warning for an unknown parameter and runs on with the
    notebook's default, which would silently build a book of the wrong profile.

    Raises:
        PipelineError: naming the notebook and what is wrong: it is not text, a cell does
            not parse, a parameter is missing.
    """
    try:
        nb = read_notebook(chapter.source)
    except UnicodeDecodeError as err:
        raise PipelineError(f"{chapter.source}: not UTF-8 text ({err.reason} at byte "
                            f"{err.start}); a chapter is a py:percent notebook") from None
    except OSError as err:
        from hybridlib.files import describe_os_error

        raise PipelineError(f"cannot read the chapter {describe_os_error(err)}") from None
    except Exception as err:  # jupytext's parser raises what its readers raise
        raise PipelineError(f"{chapter.source}: not a py:percent notebook "
                            f"({type(err).__name__}: {err})") from None
    check_syntax(nb, chapter.source)
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


# --- skipping unchanged chapters ------------------------------------------------------


def tree_hash(paths: Sequence[Path], root: Path) -> str:
    """SHA-256 of files' paths (relative to ``root``) and contents, in a stable order."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def chapter_inputs(prepared: Prepared, results_dir: Path | None = None) -> dict:
    """What an executed chapter depends on, as hashes: its source, its parameters (the
    profile), the library's code (``hybridlib/**/*.py``) and the records of the profile
    and of the budget study (``results/<profile>/``, ``results/cpu-budget*/`` and
    ``results/superseded/``, or under ``results_dir``), which every profile's book shows."""
    from hybridlib.budget import PROFILE as STUDY
    from hybridlib.budget import SUPERSEDED
    from hybridlib.paths import results_root

    library = Path(__file__).resolve().parents[1]
    root = results_root(results_dir)
    # The study's learning-rate check lives in folders of its own, cpu-budget-<hash>, and
    # its superseded record in a store of its own.
    folders = {root / str(prepared.parameters["profile"]), *root.glob(f"{STUDY}*"),
               root / SUPERSEDED}
    records = [p for folder in folders for p in folder.rglob("*") if p.is_file()]
    return {
        "source": hashlib.sha256(prepared.chapter.source.read_bytes()).hexdigest(),
        "parameters": json.loads(json.dumps(prepared.parameters, sort_keys=True)),
        "library": tree_hash(list(library.rglob("*.py")), library),
        "records": tree_hash(records, root),
        "python": sys.version.split()[0],
    }


def stamp_path(stem: str, output_dir: Path = OUTPUT_DIR) -> Path:
    """``output_dir/.<stem>.stamp.json``, next to the executed chapter."""
    return Path(output_dir) / f".{stem}{STAMP_SUFFIX}"


def is_up_to_date(prepared: Prepared, inputs: dict, output_dir: Path = OUTPUT_DIR) -> bool:
    """Whether the chapter's executed notebook exists and was made from ``inputs``."""
    stem = prepared.chapter.stem
    if not (Path(output_dir) / f"{stem}.ipynb").exists():
        return False
    try:
        return json.loads(stamp_path(stem, output_dir).read_text()) == inputs
    except (OSError, ValueError):
        return False


def write_stamp(prepared: Prepared, inputs: dict, output_dir: Path = OUTPUT_DIR) -> None:
    """Record what the chapter was just executed from (after a successful execution)."""
    stamp_path(prepared.chapter.stem, output_dir).write_text(
        json.dumps(inputs, indent=1, sort_keys=True) + "\n", encoding="utf8"
    )


# --- executing -----------------------------------------------------------------------


def kernel_config(socket_dir: str | Path) -> Config:
    """The kernel talks to papermill over local IPC sockets in ``socket_dir``, not TCP.

    Over TCP every kernel logs that its traffic is unencrypted, on every chapter. The
    sockets' default place is the working directory, where a build stopped by a signal
    would leave them in the repository; ``socket_dir`` is a private temporary folder.
    """
    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(Path(socket_dir) / "kernel")  # sockets kernel-1 … kernel-5
    return config


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


# --- checking an execution --------------------------------------------------------------


class ChapterUnfinished(Exception):
    """An executed chapter has code cells that never ran."""


def _preview(source: str) -> str:
    """The first lines of a cell's source, indented, for an error message."""
    lines = source.splitlines()
    shown = "\n".join("    " + line for line in lines[:SOURCE_LINES_SHOWN])
    return shown + ("\n    ..." if len(lines) > SOURCE_LINES_SHOWN else "")


def _runnable(cell: nbformat.NotebookNode) -> bool:
    """A code cell the kernel is given (empty and ``skip-execution`` cells are not)."""
    tags = cell.metadata.get("tags", [])
    return cell.cell_type == "code" and bool(cell.source.strip()) and "skip-execution" not in tags


def check_finished(path: Path, source: Path) -> None:
    """Raise :class:`ChapterUnfinished` if a code cell of the executed notebook never ran.

    papermill takes ``SystemExit(0)`` for success and stops executing there, so a chapter
    that exits early would otherwise be published with its later cells empty.
    """
    cells = nbformat.read(path, as_version=4).cells
    for index, cell in enumerate(cells):
        if not _runnable(cell) or cell.get("execution_count") is not None:
            continue
        before = [c for c in cells[:index] if _runnable(c)][-1:]
        errors = [o for c in before for o in c.get("outputs", []) if o.output_type == "error"]
        cause = f" after {errors[0].ename}: {errors[0].evalue}" if errors else ""
        raise ChapterUnfinished(
            f"{source} did not run to the end{cause}: its cell {index + 1} never ran:\n"
            f"{_preview(cell.source)}\n(a chapter must not stop the kernel's work early, e.g. "
            "with sys.exit)"
        )


class ChapterTooLarge(Exception):
    """A cell of an executed chapter printed (or drew) more than the output limit."""


def check_output_size(path: Path, source: Path, limit: int | None = None) -> None:
    """Raise :class:`ChapterTooLarge`, naming the cell, if a cell's outputs exceed ``limit``
    bytes (default :data:`CELL_OUTPUT_LIMIT`); the outputs of such a cell are cut in
    ``path``, so the failed notebook kept for its traceback stays small."""
    limit = CELL_OUTPUT_LIMIT if limit is None else limit
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        size = len(json.dumps(cell.get("outputs", [])))
        if size <= limit:
            continue
        cell.outputs = [nbformat.v4.new_output(
            "stream", name="stderr",
            text=f"[{size} bytes of output removed: more than the limit of {limit}]\n")]
        nbformat.write(nb, path)
        raise ChapterTooLarge(
            f"{source}: the cell executed as In [{cell.get('execution_count')}] (cell {index}) "
            f"wrote {size / 2**20:.1f} MiB of output, more than the {limit / 2**20:.0f} MiB a "
            f"cell may publish:\n{_preview(cell.source)}\n(print less: a summary, or the "
            "head of a table)")


def describe_timeout(source: Path, executed: Path, cell_timeout: float | None) -> str:
    """A message naming the chapter and the cell that ran past ``cell_timeout`` seconds."""
    limit = "no" if cell_timeout is None else f"{cell_timeout:g} s"
    message = f"{source}: a cell ran longer than the cell timeout ({limit})"
    try:
        ran = [c for c in nbformat.read(executed, as_version=4).cells if _runnable(c)]
        ran = [c for c in ran if c.get("execution_count") is not None]
    except (OSError, ValueError):
        ran = []
    if ran:  # the cells after it never started
        message += f" in the cell executed as In [{ran[-1].execution_count}]:\n"
        message += _preview(ran[-1].source)
    return message + (
        "\n(a longer limit: --cell-timeout SECONDS, or the profile's cell_timeout in "
        "hybridlib/configs.py)"
    )


def failure_message(
    source: Path, err: Exception, executed: Path, cell_timeout: float | None
) -> str:
    """What went wrong in executing chapter ``source`` (``executed``: its output notebook)."""
    if isinstance(err, PapermillExecutionError):
        return describe_failure(source, err)
    if isinstance(err, (ChapterUnfinished, ChapterTooLarge)):
        return str(err)
    if isinstance(err, CellTimeoutError):
        return describe_timeout(source, executed, cell_timeout)
    return f"{source} stopped: {type(err).__name__}: {err}"


def execute(
    prepared: Prepared,
    output_dir: Path = OUTPUT_DIR,
    cwd: Path = REPO_ROOT,
    progress_bar: bool = False,
    log_output: bool = False,
    cell_timeout: float | None = None,
) -> Path:
    """Execute one chapter into ``output_dir/<stem>.ipynb`` and return that path.

    The notebook is written under a temporary name and moved into place only once it
    ran to the end, so a failure never leaves an executed notebook that looks valid;
    the failed one is kept as ``<stem>.failed.ipynb`` for its traceback. A cell that
    runs longer than ``cell_timeout`` seconds (None: no limit) fails the chapter, and so
    does a code cell that never ran.

    Raises:
        PipelineError: naming the notebook and the failing cell.
    """
    stem = prepared.chapter.stem
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    final = output_dir / f"{stem}.ipynb"
    failed = output_dir / f"{stem}.failed.ipynb"
    partial = output_dir / f".{stem}.partial.ipynb"
    for stale in (final, failed, partial, stamp_path(stem, output_dir)):
        stale.unlink(missing_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="hybridlib-kernel-") as socket_dir:
            papermill.execute_notebook(
                prepared.notebook,
                str(partial),
                parameters=prepared.parameters,
                kernel_name=KERNEL,
                language="python",
                cwd=str(cwd),
                progress_bar=progress_bar,
                log_output=log_output,
                config=kernel_config(socket_dir),
                execution_timeout=cell_timeout,
            )
        check_finished(partial, prepared.chapter.source)
        check_output_size(partial, prepared.chapter.source)
        hide_injected_cell(partial)
        partial.replace(final)
    except Exception as err:  # a cell's error, or the kernel died or timed out
        if partial.exists():
            partial.replace(failed)
        message = failure_message(prepared.chapter.source, err, failed, cell_timeout)
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
    cell_timeout: float | None = None,
) -> dict[str, float]:
    """Check every chapter first, then execute them in order; seconds per chapter.

    ``cell_timeout``: seconds a cell may run before its chapter fails (None: no limit).
    """
    # Checking all of them before running any: a typo must not cost an hour of training.
    prepared = [prepare(chapter, profile, force) for chapter in chapters]
    if force and not any("force" in p.parameters for p in prepared):
        print("note: --force has no effect: no selected chapter declares `force`")
    timings: dict[str, float] = {}
    for item in prepared:
        # Unchanged source, profile, library and records: the last execution stands.
        if not force and is_up_to_date(item, chapter_inputs(item), output_dir):
            print(f"=== {item.chapter.stem}: unchanged since its last execution", flush=True)
            continue
        print(f"=== {item.chapter.stem}: executing with {item.parameters}", flush=True)
        start = time.perf_counter()
        execute(item, output_dir, cwd, progress_bar, log_output, cell_timeout)
        write_stamp(item, chapter_inputs(item), output_dir)
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


BOOK_SOURCES = ("_config.yml", "_toc.yml", "book")  # what a book folder holds besides chapters


def stage(book_dir: Path, root: Path = REPO_ROOT) -> Path:
    """Copy the book's hand-written sources into ``book_dir``; return its chapter folder.

    A book built in ``book_dir`` (``--book-dir``) leaves the repository's ``book/chapters/``
    and ``_build/`` alone: the tests build there, so that they never replace the published
    book with the smoke profile's. The executed chapters go to ``book_dir/book/chapters``.
    """
    book_dir, root = Path(book_dir).resolve(), Path(root).resolve()
    if book_dir == root:
        return root / "book" / "chapters"
    book_dir.mkdir(parents=True, exist_ok=True)
    for name in BOOK_SOURCES:
        source, target = root / name, book_dir / name
        if source.is_dir():
            shutil.copytree(
                source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("chapters")
            )
        else:
            shutil.copy2(source, target)
    return book_dir / "book" / "chapters"


def check_book_dir(book_dir: Path) -> None:
    """Fail before any chapter runs unless ``book_dir`` is (or can be made) a folder that
    takes a write.

    Raises:
        PipelineError: naming the folder and the cause.
    """
    from hybridlib.files import UnusableFolder, probe_folder

    try:
        probe_folder(book_dir, "--book-dir")
    except UnusableFolder as err:
        raise PipelineError(str(err)) from None


GLANCE = Path("_generated") / "glance.md"  # below book/, included by intro.md


def write_glance(profile: str, book: Path) -> Path:
    """Write the intro page's "results at a glance" for ``profile`` from its records.

    Generated at every build (and git-ignored), so the intro can never disagree with the
    results chapter: both come from the same records through ``hybridlib.evidence``.
    """
    from hybridlib import budget  # imported late: torch comes with it
    from hybridlib.book.evidence_text import glance
    from hybridlib.configs import profile_runs
    from hybridlib.runs import InvalidRecord, RunStore

    try:
        records = RunStore().load(profile, accept_code=True)
        study = budget.glance(budget.study_records(accept_code=True))
    except InvalidRecord as err:  # the book is never built without a run it should show
        raise PipelineError(str(err)) from None
    path = Path(book) / GLANCE
    path.parent.mkdir(parents=True, exist_ok=True)
    text = glance(records, len(profile_runs(profile)))
    path.write_text(f"Profile `{profile}`, from its run records. {text}"
                    + (f"\n{study}\n" if study else ""), encoding="utf8")
    return path


def check_published(html_dir: Path) -> None:
    """Fail unless the book in ``html_dir`` was built, every page of it, with the published
    profile (see :mod:`hybridlib.book.sphinx_profile`).

    Raises:
        PipelineError: listing what is wrong.
    """
    from hybridlib.book.sphinx_profile import PUBLISHED_PROFILE, check_html

    problems = check_html(html_dir, PUBLISHED_PROFILE)
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise PipelineError(
            f"{html_dir} is not the {PUBLISHED_PROFILE} book:\n  {shown}{more}"
        )


# --- command line ----------------------------------------------------------------------

EXAMPLES = """\
examples:
  every chapter on tiny data, then the book (seconds per chapter):
    python -m hybridlib.book.pipeline --profile smoke
  the published book, from the committed run records:
    python -m hybridlib.book.pipeline --profile cpu
  rerun one chapter without building the book (a chapter whose source, profile,
  library and records are unchanged since its last execution is skipped):
    python -m hybridlib.book.pipeline --only diffstride --no-build
  retrain the training chapter's runs, then rebuild the book:
    python -m hybridlib.book.pipeline --only training results --force
  the paper-scale reproduction (CUDA GPU, days):
    python -m hybridlib.book.pipeline --profile paper

  build somewhere else, leaving book/chapters/ and _build/ of the repository alone:
    python -m hybridlib.book.pipeline --profile smoke --book-dir /tmp/smoke-book
  check that the book in _build/html is the published (cpu) one, every page of it:
    python -m hybridlib.book.pipeline --check-published

The book ends up in _build/html/index.html (or BOOK_DIR/_build/html/index.html). A book
built with a profile other than cpu says so in a banner on every page.
"""


def available_profiles() -> dict:
    """The run profiles, name -> settings, from ``hybridlib.configs``."""
    from hybridlib.configs import PROFILES  # imported late: only the CLI needs it

    return PROFILES


def cell_timeout_for(requested: float | None, settings: dict) -> float | None:
    """The cell timeout in seconds: ``requested`` (0: none), else the profile's, else none."""
    value = settings.get("cell_timeout") if requested is None else requested
    return value or None


@contextmanager
def forced_sweep_environment(force: bool, profile: str, runs_dir: Path) -> Iterator[None]:
    """With ``force``, run the block as one forced sweep whose start the kernels inherit.

    The training chapter's runs then count as retrained when they were written after
    the start, so rerunning an interrupted forced command continues the same sweep
    (see ``hybridlib.local_sweep.forced_sweep``); the sweep ends when the block succeeds.
    """
    if not force:
        yield
        return
    from hybridlib.local_sweep import FORCED_SINCE_ENV, forced_sweep  # imports torch
    from hybridlib.runs import RunStore

    with forced_sweep(RunStore(runs=runs_dir), profile) as since:
        with environment(**{FORCED_SINCE_ENV: repr(since)}):
            yield


def build_parser(profiles: Sequence[str]) -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m hybridlib.book.pipeline",
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
        help="re-execute every selected chapter, even one unchanged since its last "
        "execution, and retrain the runs made before this forced sweep started (chapters "
        "that declare `force`); rerunning an interrupted forced command continues the same "
        "sweep: the runs it finished are kept, the one it stopped in resumes",
    )
    parser.add_argument(
        "--cell-timeout",
        type=number(0, True),
        metavar="SECONDS",
        help="fail a chapter whose cell runs longer than this (default: the profile's "
        "cell_timeout; 0: no limit)",
    )
    parser.add_argument(
        "--no-build", action="store_true", help="execute the chapters, skip the book build"
    )
    parser.add_argument(
        "--log-output", action="store_true", help="stream the cells' outputs while executing"
    )
    parser.add_argument(
        "--book-dir",
        type=Path,
        metavar="DIR",
        help="execute the chapters into DIR/book/chapters and build the book in "
        "DIR/_build/html (default: the repository itself)",
    )
    parser.add_argument(
        "--check-published",
        action="store_true",
        help="only check that the built book (BOOK_DIR/_build/html) was built with the "
        "published profile on every page; exit 1 if not",
    )
    return parser


def interrupt(signum: int, frame) -> None:
    """Handle SIGTERM (``kill``, ``timeout``) as Ctrl-C: the kernel is shut down with us.

    Left to the default action, the process would die at once and its kernel, possibly
    in the middle of training, would go on running with no one to read it.
    """
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    profiles = available_profiles()
    args = build_parser(profiles).parse_args(argv)
    if args.log_output:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.perf_counter()
    index = None
    book_dir = Path(args.book_dir).resolve() if args.book_dir else REPO_ROOT
    previous_sigterm = signal.signal(signal.SIGTERM, interrupt)
    try:
        if args.book_dir and not args.check_published:
            check_book_dir(book_dir)
        if args.check_published:
            check_published(book_dir / "_build" / "html")
            print(f"{book_dir / '_build' / 'html'}: the published book, every page")
            return 0
        chapters = select(discover(NOTEBOOK_DIR), args.only)
        if not chapters:
            raise PipelineError(f"no chapter notebooks (NN_name.py) in {NOTEBOOK_DIR}")
        output_dir = OUTPUT_DIR if book_dir == REPO_ROOT else stage(book_dir, REPO_ROOT)
        with forced_sweep_environment(args.force, args.profile, runs_root()):
            timings = execute_all(
                chapters,
                args.profile,
                force=args.force,
                output_dir=output_dir,
                cwd=REPO_ROOT,
                progress_bar=sys.stderr.isatty(),
                log_output=args.log_output,
                cell_timeout=cell_timeout_for(args.cell_timeout, profiles.get(args.profile, {})),
            )
        if not args.no_build:
            build_start = time.perf_counter()
            write_glance(args.profile, book_dir / "book")
            index = build(book_dir)
            timings["(book build)"] = time.perf_counter() - build_start
            from hybridlib.book.pdf import print_beside_html  # imported late: a cycle

            pdf_start = time.perf_counter()
            if print_beside_html(book_dir) is not None:
                timings["(PDF)"] = time.perf_counter() - pdf_start
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "\ninterrupted: the chapter being executed was not written; rerun the same "
            "command to continue (training resumes from its last checkpoint)",
            file=sys.stderr,
        )
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
    print("\ntimings:")
    for step, seconds in timings.items():
        print(f"  {step:<24} {seconds:8.1f} s")
    print(f"  {'total':<24} {time.perf_counter() - start:8.1f} s")
    if index is not None:
        print(f"\nbook: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
