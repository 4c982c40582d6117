"""The chapters run from an installed wheel, outside the repository, as in Colab.

Installed from a wheel, the library has no ``results/`` beside it. A chapter's setup cell
then fetches the run records of the commit the notebook was made from and checks that
commit. Here the wheel is built and installed into a fresh environment in a temporary
folder (no editable install, working directory elsewhere), the fetch is pointed at a
``file://`` clone of this repository, and the training and results chapters of the
published profile are executed there: they must show the recorded runs.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from hybridlib.book import pipeline
from hybridlib.configs import profile_runs

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory) -> Path:
    """A virtual environment outside the repository with the library installed from its
    wheel; the heavy dependencies (torch, jupyter) are borrowed from this environment by a
    path entry, which does not run this environment's editable install of the library."""
    root = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources.
    source = root / "source"
    shutil.copytree(REPO / "hybridlib", source / "hybridlib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, source / name)
    # With setuptools at hand the wheel builds offline; else pip fetches it to build.
    isolation = [] if importlib.util.find_spec("setuptools") is None else [
        "--no-build-isolation"]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", *isolation,
                    "--wheel-dir", str(root / "dist"), str(source)], check=True, cwd=root)
    (wheel,) = (root / "dist").glob("hybridlib-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "env")],
                   check=True)
    python = root / "env" / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True,
                          check=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-index", "--target", site, str(wheel)], check=True, cwd=root)
    Path(site, "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def execute(python: Path, chapter: str, folder: Path, env: dict) -> str:
    """Execute the generated notebook of ``chapter`` (its setup cell first) with the
    environment's own Python, in ``folder``; return its Markdown outputs."""
    (found,) = pipeline.select(pipeline.discover(), [chapter])
    prepared = pipeline.prepare(found, "cpu", force=False)
    source, out = folder / f"{found.stem}.ipynb", folder / f"{found.stem}.out.ipynb"
    nbformat.write(prepared.notebook, source)
    subprocess.run([str(python), "-m", "papermill", "--no-progress-bar", "-k", "python3",
                    "-p", "profile", "cpu", "--cwd", str(folder), str(source), str(out)],
                   check=True, cwd=folder, env=env, capture_output=True, text=True)
    cells = nbformat.read(out, as_version=4).cells
    return "\n".join(str(o.get("data", {}).get("text/markdown", ""))
                     + "".join(o.get("text", "")) for c in cells if c.cell_type == "code"
                     for o in c.get("outputs", []))


def test_the_chapters_find_the_records_from_a_wheel_installed_elsewhere(wheel_env, tmp_path):
    python = wheel_env
    where = subprocess.run([python, "-c", "import hybridlib.paths as p; print(p.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path)
    assert not Path(where.stdout.strip()).is_relative_to(REPO)  # the wheel, not the checkout
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items()
           if k not in ("HYBRIDLIB_RESULTS", "HYBRIDLIB_RUNS", "PYTHONPATH")}
    env.update(HOME=str(home), HYBRIDLIB_REPOSITORY=f"file://{REPO}")
    results = execute(python, "results", tmp_path, env)
    declared = len(profile_runs("cpu"))
    assert f"{declared} complete run records" in results
    training = execute(python, "training", tmp_path, env)
    assert "No run of profile" not in training and "none of them is recorded" not in training
    fetched = home / ".cache" / "hybridlib" / f"records-{git('rev-parse', 'HEAD')}"
    assert (fetched / "results" / "cpu").is_dir()
    # The fetch checked the commit it uses; a folder holding another commit is refused.
    assert git("-C", str(fetched), "rev-parse", "HEAD") == git("rev-parse", "HEAD")


def test_a_failed_fetch_says_what_to_do(wheel_env, tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("HYBRIDLIB_RESULTS",)}
    env.update(HOME=str(home), HYBRIDLIB_REPOSITORY=f"file://{tmp_path}/no-such-repository")
    cell = pipeline.setup_cell("unused", commit=git("rev-parse", "HEAD"))
    out = subprocess.run([wheel_env, "-c", cell.source], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert out.returncode == 0
    assert "could not be fetched" in out.stderr and "HYBRIDLIB_RESULTS" in out.stderr
    assert "Traceback" not in out.stderr  # one readable message


def test_a_researcher_imports_the_layers_from_the_wheel(wheel_env, tmp_path):
    code = ("import hybridlib, torch\n"
            "from hybridlib import CONFIGS, DiffStride2d, SpectralPool2d, resnet18\n"
            "x = torch.randn(2, 3, 32, 32)\n"
            "print(hybridlib.__version__, tuple(DiffStride2d(2.0)(x).shape),\n"
            "      tuple(resnet18(CONFIGS['hybrid'], width=4)(x).shape), hybridlib.__file__)\n")
    out = subprocess.run([wheel_env, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         check=True).stdout.split()
    assert out[0] == __import__("hybridlib").__version__
    assert "(2, 3, 24, 24)" in " ".join(out) and "(2, 10)" in " ".join(out)
    assert not Path(out[-1]).is_relative_to(REPO)  # the wheel's package, not the checkout
