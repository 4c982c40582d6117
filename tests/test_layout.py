"""The package's two floors: the library never imports the book's machinery, no module
imports another's private names, and the face needs torch and numpy only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hybridlib"


def imports(path: Path):
    """``(module, names)`` of every ``from hybridlib... import ...`` in ``path``."""
    for node in ast.walk(ast.parse(path.read_text("utf8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hybridlib"):
            yield node.module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("hybridlib"):
                    yield alias.name, []


LIBRARY = sorted(p for p in PACKAGE.glob("*.py"))
# The package, its tests and the chapters: none of them reaches into a module's privates.
EVERY = sorted([*PACKAGE.rglob("*.py"), *(PACKAGE.parent / "tests").glob("*.py"),
                *(PACKAGE.parent / "notebooks").glob("*.py")])


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.name)
def test_the_library_never_imports_the_book(path):
    assert not [m for m, _ in imports(path) if m.startswith("hybridlib.book")]


@pytest.mark.parametrize("path", EVERY, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_module_imports_another_s_private_names(path):
    private = [f"{m}.{n}" for m, names in imports(path) for n in names
               if n.startswith("_") and n != "__version__"]
    assert not private


def test_the_face_needs_torch_and_numpy_only():
    # pandas, scipy, matplotlib and the book's packages made unimportable.
    code = (
        "import sys\n"
        "for name in ('pandas', 'scipy', 'matplotlib', 'jupytext', 'papermill', 'nbformat'):\n"
        "    sys.modules[name] = None\n"
        "import hybridlib\n"
        "from hybridlib import CONFIGS, DiffStride2d, SpectralPool2d, resnet18, __version__\n"
        "import torch\n"
        "x = torch.randn(2, 3, 32, 32)\n"
        "assert DiffStride2d(2.0)(x).shape[-1] == 24 and SpectralPool2d(2.0)(x).shape[-1] == 16\n"
        "assert resnet18(CONFIGS['hybrid'], width=4)(x).shape == (2, 10)\n"
        "try:\n"
        "    import hybridlib.results\n"
        "except ImportError as error:\n"
        "    assert \"pip install 'hybridlib[book]'\" in str(error), error\n"
        "else:\n"
        "    raise AssertionError('hybridlib.results imported without pandas')\n"
        "print(__version__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == __import__("hybridlib").__version__


def test_a_name_the_face_does_not_export_is_an_attribute_error():
    import hybridlib

    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        hybridlib.nothing  # noqa: B018
    assert {"DiffStride2d", "resnet18", "__version__"} <= set(dir(hybridlib))
