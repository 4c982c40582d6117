"""The dependency files agree: pyproject.toml (ranges), constraints.txt (pins), environment.yml."""

import re
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent


def pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def pins() -> dict[str, str]:
    found = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            found[canonicalize_name(name)] = version
    return found


def declared() -> list[Requirement]:
    project = pyproject()["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in project["dependencies"] + extras["book"] + extras["dev"]]


def test_every_dependency_is_pinned_within_its_range():
    pinned = pins()
    for requirement in declared():
        if requirement.marker and not requirement.marker.evaluate():
            continue  # e.g. tomli, for Python 3.10 only
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} has no pin in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {name}=={pinned[name]}, outside pyproject's "
            f"{requirement.specifier}"
        )


def test_torch_is_pinned_to_the_tested_release():
    assert pins()["torch"] == "2.13.0"


def test_environment_yml_installs_the_project_under_the_constraints():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    version = python.split("=")[1]
    assert SpecifierSet(pyproject()["project"]["requires-python"]).contains(version + ".0")
    (pip_section,) = [d["pip"] for d in deps if isinstance(d, dict)]
    assert "-c constraints.txt" in pip_section
    assert any(re.fullmatch(r"-e \.\[book,dev\]", line) for line in pip_section)


def test_makefile_and_ci_install_from_the_same_files():
    makefile = (REPO / "Makefile").read_text()
    assert '-c constraints.txt -e ".[book,dev]"' in makefile
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci and "make book" in ci and "chromium" in ci
    # The data set comes from `make setup` (as root, with apt-get), not from the CI script.
    assert "dataset-fashion-mnist" in makefile


CPU_INDEX = "https://download.pytorch.org/whl/cpu"
INSTALLERS = [
    "Makefile",
    "environment.yml",
    "binder/environment.yml",
    "binder/postBuild",
    ".ci/run",
    *(f".github/workflows/{p.name}" for p in (REPO / ".github" / "workflows").glob("*.yml")),
]


def test_torch_version_is_written_only_in_constraints():
    pinned = re.compile(r"torch\s*(==|~=|<=|>=|<|>)\s*\d")
    for name in [*INSTALLERS, "README.md", "CONTRIBUTING.md"]:
        text = (REPO / name).read_text()
        assert not pinned.search(text), f"{name} names a torch version: read constraints.txt"


def test_the_cpu_build_is_the_default_everywhere():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^TORCH \?= cpu$", makefile, re.M)
    assert "https://download.pytorch.org/whl/$(TORCH)" in makefile
    assert "--extra-index-url" in makefile
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    (pip_section,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert f"--extra-index-url {CPU_INDEX}" in pip_section
    post_build = (REPO / "binder" / "postBuild").read_text()
    assert f"--extra-index-url {CPU_INDEX}" in post_build and "-c constraints.txt" in post_build
    readme = (REPO / "README.md").read_text()
    assert "TORCH=cu" in readme  # the one documented switch to a CUDA build


def test_binder_uses_the_python_of_environment_yml():
    def python(path: Path) -> str:
        deps = yaml.safe_load(path.read_text())["dependencies"]
        return next(d for d in deps if isinstance(d, str) and d.startswith("python="))

    assert python(REPO / "binder" / "environment.yml") == python(REPO / "environment.yml")
