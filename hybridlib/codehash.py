"""A fingerprint of the library code that defines the networks and the training step.

A run record stores it, so a record made by other code is never taken for one of the
current code without saying so (see ``hybridlib.train.fit``). The fingerprint is taken of
each module's syntax tree without its docstrings: comments, docstrings and formatting do
not change it; any change to what the code does does.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

__all__ = ["MODEL_AND_STEP", "code_hash", "normalised_source"]

PACKAGE = Path(__file__).resolve().parent
# The modules whose code decides a run's numbers: layers, networks, data, training.
MODEL_AND_STEP = ("spectral", "dft", "diffstride", "downsample", "resnet", "data", "train")


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def normalised_source(source: str) -> str:
    """The syntax tree of ``source`` without docstrings, as text (comments never enter it)."""
    return ast.dump(_strip_docstrings(ast.parse(source)))


@functools.lru_cache(maxsize=8)
def code_hash(modules: tuple[str, ...] = MODEL_AND_STEP) -> str:
    """SHA-256 (16 hex digits) of the normalised source of each ``hybridlib.<module>``."""
    digest = hashlib.sha256()
    for name in modules:
        digest.update(name.encode())
        digest.update(normalised_source((PACKAGE / f"{name}.py").read_text("utf8")).encode())
    return digest.hexdigest()[:16]
