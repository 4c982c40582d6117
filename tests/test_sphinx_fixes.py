"""hybridlib.book.sphinx_fixes: images carry their figure's caption as alt text."""

from __future__ import annotations

import pytest
from docutils import nodes

from hybridlib.book.sphinx_fixes import describe_figures


def test_a_captioned_figure_s_image_says_what_it_shows():
    doctree = nodes.document(None, None)
    path = "_images/0123abcd.png"
    figure = nodes.figure("", nodes.image(uri=path, alt=path),
                          nodes.caption("", "Test accuracy of every   configuration."))
    bare = nodes.image(uri="_images/ffff.png", alt="_images/ffff.png")
    named = nodes.figure("", nodes.image(uri="x.png", alt="a diagram"), nodes.caption("", "c"))
    doctree += [figure, bare, named]
    describe_figures(None, doctree)
    assert figure.children[0]["alt"] == "Test accuracy of every configuration."
    assert bare["alt"] == "_images/ffff.png"  # no caption to take it from
    assert named.children[0]["alt"] == "a diagram"  # an author's alt text stays


def mime_bundle(html: str) -> nodes.container:
    """A notebook output as myst-nb keeps it until the page is written: its formats."""
    bundle = nodes.container(nb_element="mime_bundle")
    bundle += nodes.container("", nodes.raw("", html, format="html"), mime_type="text/html")
    bundle += nodes.container("", nodes.literal_block("", "a DataFrame"), mime_type="text/plain")
    return bundle


TABLE = ('<style>#T_x_row0_col0 {text-align: right;}</style><table id="T_x" class="hl-table">'
         '<caption>Test accuracy (%) of <b>every</b> run</caption><thead><tr><th>a</th></tr>'
         '</thead><tbody><tr><td>1</td></tr></tbody></table>')


def test_a_notebook_table_with_a_caption_becomes_a_numbered_table(monkeypatch):
    from hybridlib.book import sphinx_fixes

    warnings = []
    monkeypatch.setattr(sphinx_fixes.logger, "warning", lambda *a, **k: warnings.append(a))
    doctree = nodes.document(None, None)
    figure_output = mime_bundle("<p>no table here</p>")
    doctree += [mime_bundle(TABLE), figure_output, mime_bundle(TABLE)]
    sphinx_fixes.number_output_tables(None, doctree)
    first, second = list(doctree.findall(sphinx_fixes.output_table))
    assert first["caption"] == "Test accuracy (%) of every run"
    assert first["ids"] != second["ids"] and doctree.ids[first["ids"][0]] is first
    assert figure_output.parent is doctree  # an output without a table is left alone
    assert warnings == []

    class Translator:  # the part of Sphinx's HTML translator the visitor uses
        body: list = []

        def add_fignumber(self, node):
            self.body.append('<span class="caption-number">Table 6.1 </span>')

    translator = Translator()
    with pytest.raises(nodes.SkipNode):
        sphinx_fixes.visit_output_table(translator, first)
    html = "".join(translator.body)
    assert ('<caption><span class="caption-number">Table 6.1 </span><span class="caption-text">'
            "Test accuracy (%) of <b>every</b> run</span></caption>") in html
    assert html.startswith(f'<div class="output text_html hl-table-box" id="{first["ids"][0]}">')
    assert "#T_x_row0_col0" in html  # the table's own styles stay with it


def test_a_table_without_a_caption_is_a_build_warning(monkeypatch):
    from hybridlib.book import sphinx_fixes

    warnings = []
    monkeypatch.setattr(sphinx_fixes.logger, "warning", lambda *a, **k: warnings.append(a[0]))
    doctree = nodes.document(None, None)
    bare = mime_bundle(TABLE.replace("<caption>Test accuracy (%) of <b>every</b> run</caption>",
                                     ""))
    markdown_table = nodes.table("", nodes.tgroup(cols=1))
    titled = nodes.table("", nodes.title("", "Table caption"), nodes.tgroup(cols=1))
    doctree += [bare, markdown_table, titled]
    sphinx_fixes.number_output_tables(None, doctree)
    assert bare.parent is doctree  # not numbered
    assert len(warnings) == 2
    assert "notebook table without a caption" in warnings[0]
    assert "{table} directive" in warnings[1]
