"""A Sphinx extension that marks every page with the run profile its chapters were executed in.

The published book is the ``cpu`` profile's. A book whose chapters ran under any other
profile (``smoke``'s synthetic stripes, say) must never pass for it, so every page of such a
book opens with a banner naming the profile. Every page also carries
``<meta name="hybridlib-profile" content="...">`` and the build writes
``build-profile.json`` next to ``index.html``; :func:`check_html` (run by
``python -m hybridlib.book.pipeline --check-published``) reads them back.

The profile is read from the executed chapters themselves (papermill records the
parameters it injected in each notebook's metadata), so a book built by hand with
``jupyter-book build`` is marked as truthfully as one built by the pipeline.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

PUBLISHED_PROFILE = "cpu"
MARKER = "build-profile.json"
META_NAME = "hybridlib-profile"
BANNER_CLASS = "hybridlib-profile-banner"


def notebook_profile(path: Path) -> str | None:
    """The ``profile`` papermill injected into an executed notebook, if any."""
    try:
        metadata = json.loads(Path(path).read_text(encoding="utf8")).get("metadata", {})
    except (OSError, ValueError):
        return None
    return (metadata.get("papermill", {}).get("parameters") or {}).get("profile")


def book_profiles(app) -> list[str]:
    """The profiles of the book's executed chapters, sorted (one for a consistent book)."""
    found = set()
    for docname in app.env.found_docs:
        path = Path(app.env.doc2path(docname))
        if path.suffix == ".ipynb" and (profile := notebook_profile(path)):
            found.add(profile)
    return sorted(found)


def banner_html(profiles: list[str]) -> str:
    """The banner of a book built with ``profiles`` (empty for the published book)."""
    if profiles == [PUBLISHED_PROFILE]:
        return ""
    named = " and ".join(f"<code>{html.escape(p)}</code>" for p in profiles) or "no"
    return (
        f'<div class="{BANNER_CLASS}" role="note"><strong>Not the published book.</strong> '
        f"These pages were built from chapters executed with the {named} run profile, not "
        f"<code>{PUBLISHED_PROFILE}</code>: their numbers and figures are not the companion's "
        "results.</div>"
    )


def _profiles(app) -> list[str]:
    if not hasattr(app, "_hybridlib_profiles"):
        app._hybridlib_profiles = book_profiles(app)
    return app._hybridlib_profiles


def mark_page(app, pagename, templatename, context, doctree) -> None:
    """Add the profile's meta tag to every page, and the banner to every unpublished one."""
    profiles = _profiles(app)
    content = html.escape(",".join(profiles) or "none")
    context["metatags"] = (
        context.get("metatags", "") + f'\n<meta name="{META_NAME}" content="{content}" />'
    )
    if banner := banner_html(profiles):
        context["body"] = banner + context.get("body", "")


def write_marker(app, exception) -> None:
    """``build-profile.json`` in the HTML folder: the profiles and whether it is publishable."""
    if exception is None and app.builder.format == "html":
        profiles = _profiles(app)
        record = {"profiles": profiles, "published": profiles == [PUBLISHED_PROFILE]}
        (Path(app.outdir) / MARKER).write_text(json.dumps(record) + "\n", encoding="utf8")


def check_html(html_dir: Path, profile: str = PUBLISHED_PROFILE) -> list[str]:
    """Problems that keep the built book in ``html_dir`` from being the ``profile`` book.

    Every page must carry the profile's meta tag and no banner, and the build's marker
    must name ``profile`` alone. An empty list means the book may be published.
    """
    html_dir = Path(html_dir)
    problems = []
    try:
        record = json.loads((html_dir / MARKER).read_text(encoding="utf8"))
    except (OSError, ValueError):
        record = None
    if record is None:
        problems.append(f"{html_dir / MARKER}: missing or unreadable")
    elif record.get("profiles") != [profile]:
        problems.append(f"{MARKER}: built with {record.get('profiles')}, not [{profile!r}]")
    skip = {"_static", "_sources", "_images"}
    pages = [p for p in html_dir.rglob("*.html") if not skip & set(p.relative_to(html_dir).parts)]
    for page in sorted(pages):
        text = page.read_text(encoding="utf8", errors="replace")
        if 'http-equiv="refresh"' in text:
            continue  # a redirect stub
        name = page.relative_to(html_dir).as_posix()
        if f'<meta name="{META_NAME}" content="{profile}"' not in text:
            problems.append(f"{name}: not marked as built with profile {profile!r}")
        if BANNER_CLASS in text:
            problems.append(f"{name}: carries the banner of an unpublished profile")
    if not pages:
        problems.append(f"{html_dir}: no pages")
    return problems


def setup(app) -> dict:
    """Sphinx extension entry point (this module is listed in ``_config.yml``)."""
    app.connect("html-page-context", mark_page)
    app.connect("build-finished", write_marker)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
