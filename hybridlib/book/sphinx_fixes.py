"""A Sphinx extension for the book, listed in ``_config.yml`` (sphinx: extra_extensions)."""

from __future__ import annotations


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


def setup(app) -> dict:
    """Sphinx extension entry point (this module is listed in ``_config.yml``)."""
    app.connect("html-page-context", drop_duplicate_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
