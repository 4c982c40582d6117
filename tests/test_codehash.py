"""The code fingerprint ignores docstrings, comments and layout, and nothing else."""

import pytest

from hybridlib import codehash

SOURCE = '''
def scale(x):
    """Twice x."""
    return 2 * x  # the factor
'''


def test_docstrings_comments_and_layout_do_not_change_the_fingerprint():
    reworded = SOURCE.replace("Twice x.", "Doubles its input.").replace("# the factor", "")
    relaid = SOURCE.replace("return 2 * x", "return (2\n            * x)")
    assert codehash.normalised_source(reworded) == codehash.normalised_source(SOURCE)
    assert codehash.normalised_source(relaid) == codehash.normalised_source(SOURCE)


def test_a_change_of_behaviour_changes_the_fingerprint():
    changed = SOURCE.replace("2 * x", "3 * x")
    assert codehash.normalised_source(changed) != codehash.normalised_source(SOURCE)


def test_a_function_that_is_only_a_docstring_stays_valid():
    assert "Pass" in codehash.normalised_source('def f():\n    """Nothing."""\n')


def test_the_fingerprint_covers_the_modules_that_compute_a_run():
    modules = {m if isinstance(m, str) else m[0] for m in codehash.MODEL_AND_STEP}
    assert {"diffstride", "dft", "resnet", "data", "train"} <= modules
    assert len(codehash.code_hash()) == 16
    assert codehash.code_hash(("spectral",)) != codehash.code_hash(("diffstride",))


SELECTED = """
RATE = 0.1
def step(x):
    return x * RATE
def command_line():
    print("usage")
"""


def test_a_selection_of_definitions_ignores_the_rest_of_the_module():
    chosen = ("RATE", "step")
    base = codehash.normalised_source(SELECTED, chosen)
    reworded_cli = SELECTED.replace('"usage"', '"usage: step X"')
    assert codehash.normalised_source(reworded_cli, chosen) == base
    assert codehash.normalised_source(SELECTED.replace("0.1", "0.2"), chosen) != base
    assert codehash.normalised_source(SELECTED.replace("x * RATE", "x + RATE"), chosen) != base


def test_a_selected_name_that_is_not_defined_is_an_error():
    with pytest.raises(KeyError, match="renamed"):
        codehash.normalised_source(SELECTED, ("step", "renamed"))


def test_every_selected_definition_of_train_exists():
    for entry in codehash.MODEL_AND_STEP:
        if not isinstance(entry, str):
            module, names = entry
            source = (codehash.PACKAGE / f"{module}.py").read_text("utf8")
            codehash.normalised_source(source, names)  # raises on a missing name


def test_the_fingerprint_is_pinned_and_every_committed_record_s_is_accepted():
    # A change to the code that computes runs changes this fingerprint; it lands with
    # `python -m hybridlib.verify` (a proof that the committed records compute the same,
    # kept in hybridlib/code_equivalences.json) or with retrained records. The cpu records
    # carry c640687672a7dbe3, the budget study's records a4977eb4efb63f6d and
    # 456cf579f0ea1c1e.
    assert codehash.code_hash() == "10f819860fe70478"
    assert {"c640687672a7dbe3", "a4977eb4efb63f6d", "456cf579f0ea1c1e"} <= (
        codehash.accepted_hashes(codehash.code_hash()))
