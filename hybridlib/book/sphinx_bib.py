"""The bibliography's labels in the form the text cites: ``Riad et al., 2022``.

The book cites with sphinxcontrib-bibtex's ``author_year`` reference style, but the
bibliography page of the default ``plain`` style labels its entries ``[1]``, ``[2]`` (or
``[RTGZ22]`` with ``alpha``), so a reader cannot find "(Riad et al., 2022)" in the list.
This extension registers a pybtex style, ``author_year``, whose labels are those of the
citations: the surname for one author, both for two, the first and "et al." for more,
then the year. ``_config.yml`` selects it with ``bibtex_default_style: author_year``.
"""

from __future__ import annotations

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle

__all__ = ["AuthorYearLabels", "AuthorYearStyle", "author_year", "setup"]

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


class AuthorYearLabels(BaseLabelStyle):
    """Labels as the ``author_year`` citations print them."""

    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            yield author_year(entry)


class AuthorYearStyle(UnsrtStyle):
    """The ``unsrt`` formatting with :class:`AuthorYearLabels`, sorted by author and year."""

    default_label_style = AuthorYearLabels
    default_sorting_style = "author_year_title"


def setup(app) -> dict:
    register_plugin("pybtex.style.labels", STYLE, AuthorYearLabels, force=True)
    register_plugin("pybtex.style.formatting", STYLE, AuthorYearStyle, force=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
