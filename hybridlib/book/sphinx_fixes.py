"""A Sphinx extension for the book, listed in ``_config.yml`` (sphinx: extra_extensions)."""

from __future__ import annotations

from docutils import nodes


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


def setup(app) -> dict:
    """Sphinx extension entry point (this module is listed in ``_config.yml``)."""
    app.connect("html-page-context", drop_duplicate_scripts)
    app.connect("doctree-read", describe_figures)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
