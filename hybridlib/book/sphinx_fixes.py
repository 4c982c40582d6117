"""A Sphinx extension for the book, listed in ``_config.yml`` (sphinx: extra_extensions).

* Inline scripts are written once per page (a Sphinx 7 bug, :func:`drop_duplicate_scripts`).
* Every image of a captioned figure takes the caption as its alt text
  (:func:`describe_figures`).
* A notebook's HTML table (a pandas ``Styler`` with a caption, as
  :func:`hybridlib.book.formatting.table` writes it) is numbered with the book's tables,
  "Table 6.1", in one sequence with the Markdown tables of the chapters
  (:func:`number_output_tables`); a table without a caption, from a notebook or from
  Markdown, is a build warning, which the book's ``-W`` build turns into an error.
"""

from __future__ import annotations

import html
import re

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)

CAPTION = re.compile(r"<caption\b[^>]*>(.*?)</caption>", re.S | re.I)
TAG = re.compile(r"<[^>]+>")


def drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    """Write each script of a page once.

    Sphinx 7 (Jupyter Book 1 requires it) writes every inline script that an extension
    adds after the builder has started twice, as ``None`` and as ``""`` (fixed in Sphinx
    8.2, sphinx-doc/sphinx#13402). sphinx-thebe's inline ``const THEBE_JS_URL = ...``
    then throws a SyntaxError in every reader's browser, on every page.
    """
    unique: dict[tuple, object] = {}
    for script in context.get("script_files", []):
        filename = getattr(script, "filename", script) or ""
        attributes = sorted(getattr(script, "attributes", {}).items())
        unique.setdefault((filename, getattr(script, "priority", 0), *attributes), script)
    context["script_files"] = list(unique.values())


def describe_figures(app, doctree) -> None:
    """Give every image of a captioned figure its caption as alt text.

    myst-nb writes a notebook output's image with its file path as the alt text, which a
    screen reader reads out as a string of hex digits; the caption says what it shows.
    """
    for figure in doctree.findall(nodes.figure):
        captions = list(figure.findall(nodes.caption))
        if not captions:
            continue
        text = " ".join(captions[0].astext().split())
        for image in figure.findall(nodes.image):
            if not image.get("alt") or image.get("alt") == image.get("uri"):
                image["alt"] = text


class output_table(nodes.General, nodes.Element):  # noqa: N801 (docutils names nodes so)
    """A table a notebook cell displayed as HTML, with its caption: ``html`` holds the
    table as the cell wrote it, ``caption`` the caption's text."""


def _caption_text(markup: str) -> str:
    return " ".join(html.unescape(TAG.sub("", markup)).split())


def _html_table(bundle: nodes.Element) -> str | None:
    """The HTML of a myst-nb output (a ``mime_bundle``) that shows a table, else None."""
    for mime in bundle.children:
        if isinstance(mime, nodes.Element) and mime.get("mime_type") == "text/html":
            text = mime.astext()
            if re.search(r"<table\b", text, re.I):
                return text
    return None


def number_output_tables(app, doctree) -> None:
    """Turn each HTML table a notebook displayed into an :class:`output_table`, which
    Sphinx numbers with the Markdown tables; warn about any table without a caption.

    myst-nb keeps every output as a bundle of its formats until the page is written; a
    bundle with an HTML table becomes the table alone (the book is HTML, and the PDF is
    the HTML printed). Runs when a document has been read, before the numbers are
    assigned.
    """
    count = 0
    for bundle in list(doctree.findall(nodes.container)):
        if bundle.get("nb_element") != "mime_bundle":
            continue
        markup = _html_table(bundle)
        if markup is None:
            continue
        found = CAPTION.search(markup)
        caption = _caption_text(found.group(1)) if found else ""
        if not caption:
            logger.warning("a notebook table without a caption (give table() a caption)",
                           location=bundle, type="hybridlib", subtype="table")
            continue
        count += 1
        node = output_table(html=markup, caption=caption)
        node["ids"] = [_unique_id(doctree, f"table-{count}")]
        doctree.ids[node["ids"][0]] = node
        node.source, node.line = bundle.source, bundle.line
        bundle.replace_self(node)
    for table in doctree.findall(nodes.table):
        if not any(isinstance(child, nodes.title) for child in table.children):
            logger.warning("a table without a caption (write it as a {table} directive)",
                           location=table, type="hybridlib", subtype="table")


def _unique_id(doctree, wanted: str) -> str:
    ids, candidate, n = doctree.ids, wanted, 1
    while candidate in ids:
        n += 1
        candidate = f"{wanted}-{n}"
    return candidate


def visit_output_table(self, node: output_table) -> None:
    """Write the table with its number in front of the caption ("Table 6.1 ...")."""
    start = len(self.body)
    self.add_fignumber(node)  # the translator's own "Table 6.1 " span, if numbered
    number = "".join(self.body[start:])
    del self.body[start:]
    markup = CAPTION.sub(
        lambda m: (f"{m.group(0)[: m.group(0).index('>') + 1]}{number}"
                   f'<span class="caption-text">{m.group(1)}</span></caption>'),
        node["html"], count=1)
    self.body.append(f'<div class="output text_html hl-table-box" id="{node["ids"][0]}">'
                     f"{markup}</div>\n")
    raise nodes.SkipNode


def skip_output_table(self, node: output_table) -> None:
    """Builders other than HTML have no use for a notebook's HTML table."""
    raise nodes.SkipNode


def setup(app) -> dict:
    """Sphinx extension entry point (this module is listed in ``_config.yml``)."""
    app.connect("html-page-context", drop_duplicate_scripts)
    app.connect("doctree-read", describe_figures)
    app.connect("doctree-read", number_output_tables)
    skip = (skip_output_table, None)
    app.add_enumerable_node(output_table, "table", lambda node: node["caption"],
                            html=(visit_output_table, None), latex=skip, text=skip,
                            man=skip, texinfo=skip)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
