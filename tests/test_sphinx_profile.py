"""The profile mark and banner of every built page (hybridlib.book.sphinx_profile), and the
check that only the published profile's book passes."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from hybridlib.book import pipeline, sphinx_profile
from hybridlib.book.sphinx_profile import BANNER_CLASS, MARKER, PUBLISHED_PROFILE


def executed(path: Path, profile: str | None) -> Path:
    metadata = {"papermill": {"parameters": {"profile": profile}}} if profile else {}
    path.write_text(json.dumps({"cells": [], "metadata": metadata}))
    return path


def fake_app(tmp_path: Path, profiles: list[str | None]):
    docs = {f"ch{i}": executed(tmp_path / f"ch{i}.ipynb", p) for i, p in enumerate(profiles)}
    (tmp_path / "intro.md").write_text("# intro")
    docs["intro"] = tmp_path / "intro.md"
    env = SimpleNamespace(found_docs=set(docs), doc2path=lambda name: str(docs[name]))
    out = tmp_path / "html"
    out.mkdir()
    return SimpleNamespace(env=env, outdir=str(out), builder=SimpleNamespace(format="html"))


def page(app, body="<p>text</p>") -> dict:
    context = {"body": body, "metatags": ""}
    sphinx_profile.mark_page(app, "intro", "page.html", context, None)
    return context


def test_the_published_book_has_the_mark_and_no_banner(tmp_path):
    app = fake_app(tmp_path, [PUBLISHED_PROFILE, PUBLISHED_PROFILE])
    context = page(app)
    assert context["body"] == "<p>text</p>"
    assert f'content="{PUBLISHED_PROFILE}"' in context["metatags"]
    sphinx_profile.write_marker(app, None)
    assert json.loads((tmp_path / "html" / MARKER).read_text())["published"] is True


@pytest.mark.parametrize("profiles", [["smoke"], ["smoke", "cpu"], [None]])
def test_any_other_book_carries_the_banner_naming_its_profiles(tmp_path, profiles):
    app = fake_app(tmp_path, profiles)
    context = page(app)
    assert context["body"].startswith(f'<div class="{BANNER_CLASS}"')
    for name in filter(None, profiles):
        assert f"<code>{name}</code>" in context["body"]
    sphinx_profile.write_marker(app, None)
    assert json.loads((tmp_path / "html" / MARKER).read_text())["published"] is False


def built(tmp_path: Path, profiles: list[str]) -> Path:
    """A two-page HTML folder as the extension would write it for ``profiles``."""
    app = fake_app(tmp_path, profiles)
    for name in ("intro", "chapter"):
        context = page(app)
        html = f"<html><head>{context['metatags']}</head><body>{context['body']}</body></html>"
        (Path(app.outdir) / f"{name}.html").write_text(html)
    (Path(app.outdir) / "index.html").write_text(
        '<meta http-equiv="refresh" content="0; url=intro.html" />'
    )
    sphinx_profile.write_marker(app, None)
    return Path(app.outdir)


def test_check_passes_the_cpu_book_and_fails_the_smoke_book(tmp_path):
    for name in ("cpu", "smoke"):
        (tmp_path / name).mkdir()
    good = built(tmp_path / "cpu", ["cpu"])
    assert sphinx_profile.check_html(good) == []
    pipeline.check_published(good)  # no exception
    bad = built(tmp_path / "smoke", ["smoke"])
    problems = sphinx_profile.check_html(bad)
    assert any("banner" in p for p in problems) and any(MARKER in p for p in problems)
    with pytest.raises(pipeline.PipelineError, match="not the cpu book"):
        pipeline.check_published(bad)


def test_check_fails_a_folder_without_marker_or_pages(tmp_path):
    assert sphinx_profile.check_html(tmp_path)


def test_the_cli_checks_the_built_book_of_a_book_dir(tmp_path, capsys):
    (tmp_path / "_build").mkdir()
    html = built(tmp_path / "_build", ["smoke"])
    html.rename(tmp_path / "_build" / "html")
    assert pipeline.main(["--check-published", "--book-dir", str(tmp_path)]) == 1
    assert "not the cpu book" in capsys.readouterr().err


def test_stage_copies_the_sources_but_no_chapters(tmp_path):
    root = tmp_path / "repo"
    (root / "book" / "chapters").mkdir(parents=True)
    (root / "book" / "chapters" / "01_a.ipynb").write_text("{}")
    (root / "book" / "intro.md").write_text("# intro")
    (root / "_config.yml").write_text("title: t\n")
    (root / "_toc.yml").write_text("root: book/intro\n")
    chapters = pipeline.stage(tmp_path / "out", root)
    assert chapters == (tmp_path / "out" / "book" / "chapters").resolve()
    assert (tmp_path / "out" / "book" / "intro.md").exists()
    assert (tmp_path / "out" / "_config.yml").exists()
    assert not (tmp_path / "out" / "book" / "chapters").exists()
    assert pipeline.stage(root, root) == (root / "book" / "chapters").resolve()
