"""The book's words agree with each other and with the page a reader sees: one definition
of the positions `head` and `gap`, GAP spelled out where it first appears, one unit of
compute, and the toggle named as the theme names it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = {p.relative_to(REPO).as_posix(): p.read_text("utf8")
         for p in [*sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py")),
                   *sorted((REPO / "book").glob("*.md"))]}
# The one definition of the two positions at the end of the network (the architectures
# chapter's table of positions); every page that describes them uses these words.
HEAD = "on the last stage's output, before the head's BN-ReLU"
GAP = "after the head's BN-ReLU"


@pytest.mark.parametrize("page", ["book/intro.md", "book/extending.md",
                                  "notebooks/04_architectures.py"])
def test_head_and_gap_are_described_in_the_same_words_everywhere(page):
    text = " ".join(re.sub(r"^# ?", "", PAGES[page], flags=re.M).split())
    assert HEAD in text and GAP in text, page


def test_no_page_puts_the_hybrid_s_layer_just_before_global_average_pooling():
    # That is `gap`, the hybrid_at_gap reading; `hybrid` sits one level above it.
    for name, text in PAGES.items():
        flat = " ".join(re.sub(r"^# ?", "", text, flags=re.M).split())
        assert "just before global average pooling" not in flat, name


@pytest.mark.parametrize("name", sorted(PAGES))
def test_gap_is_spelled_out_where_a_page_first_uses_it(name):
    flat = " ".join(re.sub(r"^# ?", "", PAGES[name], flags=re.M).split())
    first = re.search(r"\bGAP\b", flat)
    if first:
        before = flat[: first.end()]
        assert before.endswith(("global average pooling (GAP", 'global average pooling" (GAP')), \
            name


def test_compute_is_counted_in_mflops_throughout():
    sources = [*PAGES.values(), *(p.read_text("utf8")
                                  for p in (REPO / "hybridlib" / "book").glob("*.py"))]
    assert not any("GFLOPs" in text for text in sources)


def test_the_intro_names_the_parameters_toggle_as_the_page_shows_it():
    from myst_nb.core.config import NbParserConfig

    # The pipeline folds the parameters cell away with hide-cell: its toggle shows content.
    shown = NbParserConfig().code_prompt_show.format(type="content")
    assert f'("{shown}")' in " ".join(PAGES["book/intro.md"].split())
    assert "Click to show" not in PAGES["book/intro.md"]


def test_no_chapter_points_to_an_explanation_that_is_not_there():
    training = PAGES["notebooks/05_training.py"]
    assert "shows why the FFT" not in training
