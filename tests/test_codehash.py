"""The code fingerprint ignores docstrings, comments and layout, and nothing else."""

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
    assert {"diffstride", "dft", "resnet", "data", "train"} <= set(codehash.MODEL_AND_STEP)
    assert len(codehash.code_hash()) == 16
    assert codehash.code_hash(("spectral",)) != codehash.code_hash(("diffstride",))
