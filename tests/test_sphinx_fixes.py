"""hybridlib.book.sphinx_fixes: images carry their figure's caption as alt text."""

from __future__ import annotations

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
