"""A fingerprint of the library code that defines the networks and the training step.

A run record stores it, so a record made by other code is never taken for one of the
current code without saying so (see ``hybridlib.train.fit``). The fingerprint is taken of
each module's syntax tree without its docstrings: comments, docstrings and formatting do
not change it; any change to what the code does does.

A change that adds to the code without changing what the older runs compute (a new
schedule, a new layer option) changes the fingerprint too. Such older records stay valid
only with a proof: ``python -m hybridlib.verify RECORD`` retrains one with the current
code and compares its prediction for every test image bit for bit; when they are equal,
it adds the pair (old fingerprint, current fingerprint) to :data:`EQUIVALENCES`, with the
evidence. :func:`accepted_hashes` follows those pairs.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
from pathlib import Path

__all__ = [
    "EQUIVALENCES",
    "MODEL_AND_STEP",
    "accepted_hashes",
    "add_equivalence",
    "code_hash",
    "normalised_source",
]

PACKAGE = Path(__file__).resolve().parent
# The code that decides a run's numbers: the layers, networks and data modules whole, and
# of ``train`` (which also holds the bookkeeping of records and the command line) the
# definitions that compute: schedule, optimiser, data split, epoch, evaluation.
TRAIN_STEP = (
    "STEP_DROPS",
    "OFFICIAL_BOUNDARIES",
    "OFFICIAL_VALUES",
    "FIRST_COMMIT_EPOCHS",
    "WSD_WARMUP_EPOCHS",
    "WSD_DECAY_SHARE",
    "wsd_trunk_epochs",
    "learning_rate",
    "make_optimizer",
    "_load",
    "_step_values",
    "_check_parameters",
    "_mixup",
    "evaluate",
    "_autocast",
    "_train_epoch",
    "_new_model",
    "_train",
)
MODEL_AND_STEP = (
    "spectral",
    "dft",
    "diffstride",
    "downsample",
    "resnet",
    "data",
    ("train", TRAIN_STEP),
)


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


def _defines(node: ast.stmt) -> set[str]:
    """The top-level names a statement defines (functions, classes, assignments)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return {t.id for t in targets if isinstance(t, ast.Name)}


def normalised_source(source: str, names: tuple[str, ...] | None = None) -> str:
    """The syntax tree of ``source`` without docstrings, as text (comments never enter it).

    ``names`` keeps only the top-level statements that define one of them; a name that
    is defined nowhere raises a KeyError, so that a renamed function cannot drop out of
    the fingerprint unnoticed.
    """
    tree = _strip_docstrings(ast.parse(source))
    if names is not None:
        kept = [node for node in tree.body if _defines(node) & set(names)]
        missing = set(names) - set().union(*(_defines(node) for node in kept))
        if missing:
            raise KeyError(f"not defined at the top level: {', '.join(sorted(missing))}")
        tree.body = kept
    return ast.dump(tree)


@functools.lru_cache(maxsize=8)
def code_hash(modules: tuple = MODEL_AND_STEP) -> str:
    """SHA-256 (16 hex digits) of the normalised source of each ``hybridlib.<module>``.

    An entry is a module name, or ``(module, names)`` for some of its definitions.
    """
    digest = hashlib.sha256()
    for entry in modules:
        name, names = (entry, None) if isinstance(entry, str) else entry
        source = (PACKAGE / f"{name}.py").read_text("utf8")
        digest.update(name.encode())
        digest.update(normalised_source(source, names).encode())
    return digest.hexdigest()[:16]


# The proven equivalences of fingerprints, written by hybridlib.verify (package data).
EQUIVALENCES = PACKAGE / "code_equivalences.json"


def _read_equivalences(path: Path) -> list[dict]:
    """The entries of an equivalence file (none if it does not exist)."""
    if not path.exists():
        return []
    entries = json.loads(path.read_text("utf8")).get("equivalences")
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("old"), str) and isinstance(e.get("new"), str)
        for e in entries
    ):
        raise ValueError(f"{path}: 'equivalences' must be a list of {{old, new, ...}} entries")
    return entries


def accepted_hashes(current: str, path: Path = EQUIVALENCES) -> frozenset[str]:
    """``current`` and every older fingerprint proven, step by step, to compute as it does."""
    accepted, entries = {current}, _read_equivalences(path)
    grew = True
    while grew:
        grew = False
        for entry in entries:
            if entry["new"] in accepted and entry["old"] not in accepted:
                accepted.add(entry["old"])
                grew = True
    return frozenset(accepted)


def add_equivalence(entry: dict, path: Path = EQUIVALENCES) -> None:
    """Append a proven ``{old, new, ...evidence}`` entry to the equivalence file."""
    entries = _read_equivalences(path)
    entries.append(entry)
    text = json.dumps({"equivalences": entries}, indent=1, sort_keys=True) + "\n"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text, "utf8")
    temporary.replace(path)
