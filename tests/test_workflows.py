"""The GitHub workflows, the pre-commit hooks and the citation file parse and say what
they should: current action versions, least permissions, the CPU build of PyTorch."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
# The major version of each action the workflows may use.
ACTIONS = {
    "actions/checkout": "v5",
    "actions/setup-python": "v6",
    "actions/cache": "v4",
    "actions/upload-artifact": "v4",
    "actions/upload-pages-artifact": "v4",
    "actions/deploy-pages": "v4",
}
CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"


def load(name: str) -> dict:
    return yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())


def triggers(workflow: dict) -> dict:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_the_workflows_are_there():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "book.yml", "links.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_workflow_uses_current_actions_and_least_permissions(path):
    workflow = yaml.safe_load(path.read_text())
    assert triggers(workflow), f"{path.name}: no trigger"
    top = workflow.get("permissions")
    assert top is not None, f"{path.name}: no top-level permissions"
    assert top in ({}, {"contents": "read"}), f"{path.name}: wide default permissions {top}"
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} does not say its permissions"
        assert job.get("timeout-minutes"), f"{path.name}: job {name} has no timeout"
    for step in steps(workflow):
        if "uses" in step:
            action, version = step["uses"].split("@")
            assert ACTIONS.get(action) == version, f"{path.name}: {step['uses']}"
        run = step.get("run", "")
        if "pip install" in run and "-e " in run:
            assert CPU_INDEX in " ".join(run.split("\\\n")).replace("  ", " ")
            assert "-c constraints.txt" in run


def test_only_the_book_build_may_write_and_only_the_deploy_may_publish_pages():
    for path in WORKFLOWS:
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            granted = {k: v for k, v in job["permissions"].items() if v == "write"}
            if (path.name, name) == ("book.yml", "build"):
                assert granted == {"contents": "write"}
            elif (path.name, name) == ("book.yml", "deploy"):
                assert granted == {"pages": "write", "id-token": "write"}
            else:
                assert granted == {}, f"{path.name}: job {name} writes {granted}"


def test_ci_runs_on_every_push_and_pull_request_with_the_checks():
    workflow = load("ci.yml")
    assert {"push", "pull_request"} <= set(triggers(workflow))
    runs = "\n".join(step.get("run", "") for step in steps(workflow))
    assert "ruff check hybridlib tests notebooks" in runs
    assert 'pytest -m "not slow and not browser"' in runs
    assert "hybridlib.book.pipeline --profile smoke" in runs
    assert "test_browser.py" in runs and "test_chapter_folder.py" in runs
    setups = [s for s in steps(workflow) if s.get("uses", "").startswith("actions/setup-python")]
    assert setups and all(s["with"].get("cache") == "pip" for s in setups)


def test_fashion_mnist_is_a_checked_cached_download_not_a_debian_package():
    for name in ("ci.yml", "book.yml"):
        workflow = load(name)
        assert not any("dataset-fashion-mnist" in s.get("run", "") for s in steps(workflow))
        caches = [s for s in steps(workflow) if s.get("uses", "").startswith("actions/cache")]
        assert any("fashion-mnist" in s["with"]["path"] for s in caches)
        assert any("load_fashion_mnist()" in s.get("run", "") for s in steps(workflow))


def test_the_link_check_is_weekly_and_cannot_block_the_pages():
    workflow = load("links.yml")
    assert "schedule" in triggers(workflow)
    (job,) = workflow["jobs"].values()
    assert job["continue-on-error"] is True
    assert any("linkcheck" in step.get("run", "") for step in job["steps"])


def test_pre_commit_hooks_parse():
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    ids = {hook["id"] for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff", "py-percent-only"} <= ids


def test_citation_file_cites_the_companion_and_the_three_papers():
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors", "type", "license", "references"):
        assert cff.get(key), f"CITATION.cff has no {key}"
    assert cff["license"] == "Apache-2.0"
    arxiv = {
        re.sub(r"^arXiv:", "", i["value"])
        for ref in cff["references"]
        for i in ref.get("identifiers", [])
    }
    assert arxiv == {"2401.09008", "2202.01653", "1506.03767"}
    for ref in cff["references"]:
        assert ref["type"] and ref["title"] and ref["year"] and ref["authors"]
        assert all("family-names" in a or "name" in a for a in ref["authors"])


def test_the_license_is_the_apache_license_the_metadata_names():
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
