import pytest

from hybridlib.book import recipe
from hybridlib.configs import PROFILES
from hybridlib.runs import build_run


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_setting_of_every_profile_has_a_meaning_and_a_row(profile):
    run = build_run(profile, "hybrid", 0)
    table = recipe.recipe_table(run)
    assert set(table.index) == set(run)
    assert table.meaning.str.len().min() > 10


def test_values_read_as_a_person_writes_them():
    table = recipe.recipe_table(build_run("cpu", "hybrid", 0))
    assert table.value["weight_decay"] == "0.0005"
    assert table.value["augment"] == "no" and table.value["strides"] == ""
    assert table.value["spec"].startswith("stem diffstride 1, stage2 diffstride 2")
    assert "description" not in table.value["spec"]


def test_a_setting_without_a_meaning_is_named():
    with pytest.raises(KeyError, match="new_knob"):
        recipe.recipe_table({**build_run("smoke", "strided", 0), "new_knob": 1})
