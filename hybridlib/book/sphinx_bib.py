"""The bibliography's labels in the form the text cites: ``Riad et al., 2022``.

The book cites with sphinxcontrib-bibtex's ``author_year`` reference style, but the
bibliography page of the default ``plain`` style labels its entries ``[1]``, ``[2]`` (or
``[RTGZ22]`` with ``alpha``), so a reader cannot find "(Riad et al., 2022)" in the list.
This extension registers a pybtex style, ``author_year``, whose labels are those of the
citations: the surname for one author, both for two, the first and "et al." for more,
then the year. ``_config.yml`` selects it with ``bibtex_default_style: author_year``.
The list is in the alphabetical order of those labels, as a reader looks an entry up:
accents and the braces that protect an organisation's name ignored ("Hägele" between
"Google" and "He").
"""

from __future__ import annotations

import unicodedata

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting import BaseSortingStyle

__all__ = ["AuthorYearLabels", "AuthorYearSorting", "AuthorYearStyle", "author_year",
           "sort_key", "setup"]

STYLE = "author_year"


def _surname(person) -> str:
    """A person's last name as printed (braces of protected words removed)."""
    return " ".join(str(name) for name in person.rich_last_names)


def author_year(entry) -> str:
    """``Surname, 2022``, ``A and B, 2013`` or ``A et al., 2022`` for a pybtex entry."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_surname(p) for p in people]
    if not names:
        who = entry.fields.get("title", entry.key)
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


def sort_key(entry) -> tuple[str, str]:
    """Where ``entry`` goes in the list: its label folded to plain lower-case letters
    ("hagele et al., 2024"), then its title."""
    folded = unicodedata.normalize("NFKD", author_year(entry))
    plain = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    return plain, entry.fields.get("title", "")


class AuthorYearSorting(BaseSortingStyle):
    """Entries in the alphabetical order of their :func:`author_year` labels."""

    def sorting_key(self, entry):
        return sort_key(entry)


class AuthorYearLabels(BaseLabelStyle):
    """Labels as the ``author_year`` citations print them."""

    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            yield author_year(entry)


class AuthorYearStyle(UnsrtStyle):
    """The ``unsrt`` formatting with :class:`AuthorYearLabels`, sorted by author and year."""

    default_label_style = AuthorYearLabels
    default_sorting_style = AuthorYearSorting


def setup(app) -> dict:
    register_plugin("pybtex.style.labels", STYLE, AuthorYearLabels, force=True)
    register_plugin("pybtex.style.formatting", STYLE, AuthorYearStyle, force=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
