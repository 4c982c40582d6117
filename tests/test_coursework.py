import nbformat
import papermill
import pytest
from papermill.exceptions import PapermillExecutionError

from hybridlib.book.coursework import (
    SOLUTION_TAG,
    STUB_TAG,
    main,
    set_parameter,
    write_student_editions,
)
from hybridlib.book.pipeline import NOTEBOOK_DIR, REPO_ROOT, discover, read_notebook

CHAPTERS = discover(NOTEBOOK_DIR)
DERIVATION_CHAPTERS = [c for c in CHAPTERS if c.number in {"01", "02", "03", "04"}]


def tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


@pytest.fixture(scope="module")
def editions(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    assert main(["student", "--out", str(out)]) == 0
    return {path.stem: path for path in sorted(out.glob("*.ipynb"))}


def test_every_chapter_gets_a_valid_student_edition(editions):
    assert set(editions) == {c.stem for c in CHAPTERS}
    for path in editions.values():
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata["hybridlib"]["edition"] == "student"
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("chapter", DERIVATION_CHAPTERS, ids=lambda c: c.stem)
def test_derivation_chapters_have_three_exercises_with_tagged_solutions(chapter):
    nb = read_notebook(chapter.source)
    statements = [c for c in nb.cells if c.cell_type == "markdown" and "**Exercise" in c.source]
    assert len(statements) >= 3
    assert sum(SOLUTION_TAG in tags(c) for c in nb.cells) >= 3
    assert any(STUB_TAG in tags(c) for c in nb.cells)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.stem)
def test_nothing_from_a_solution_leaks_into_the_student_edition(chapter, editions):
    source = read_notebook(chapter.source)
    student = nbformat.read(editions[chapter.stem], as_version=4)
    student_text = "\n".join(c.source for c in student.cells)
    public = "\n".join(c.source for c in source.cells if SOLUTION_TAG not in tags(c))
    for cell in source.cells:
        if SOLUTION_TAG not in tags(cell):
            continue
        for line in cell.source.splitlines():
            line = line.strip()
            # A line also written outside the solutions (an import, a signature) is public.
            if len(line) >= 12 and line not in public:
                assert line not in student_text, f"{chapter.stem}: solution line leaked: {line}"
    assert not any(SOLUTION_TAG in tags(c) for c in student.cells)
    stubs = [c for c in student.cells if STUB_TAG in tags(c)]
    assert all("remove-cell" not in tags(c) for c in stubs)
    assert all("NotImplementedError" in c.source for c in stubs)
    (parameters,) = [c for c in student.cells if "parameters" in tags(c)]
    assert "profile = 'smoke'" in parameters.source


@pytest.mark.slow
@pytest.mark.parametrize("chapter", DERIVATION_CHAPTERS, ids=lambda c: c.stem)
def test_student_edition_executes_up_to_the_first_stub(chapter, editions, tmp_path):
    path = editions[chapter.stem]
    cells = nbformat.read(path, as_version=4).cells
    first_stub = next(i for i, c in enumerate(cells) if STUB_TAG in tags(c))
    with pytest.raises(PapermillExecutionError) as info:
        papermill.execute_notebook(
            str(path), str(tmp_path / path.name), kernel_name="python3", cwd=str(REPO_ROOT)
        )
    assert info.value.ename == "NotImplementedError", info.value.evalue
    assert "Exercise" in info.value.evalue
    executed = nbformat.read(tmp_path / path.name, as_version=4).cells
    failing = next(
        i
        for i, c in enumerate(executed)
        if any(o.output_type == "error" for o in c.get("outputs", []))
    )
    assert failing > first_stub


def test_set_parameter_rewrites_only_that_assignment():
    source = 'profile = "cpu"  # the default\nforce = False'
    assert set_parameter(source, "profile", "smoke") == "profile = 'smoke'\nforce = False"
    with pytest.raises(ValueError, match="no 'seed'"):
        set_parameter(source, "seed", 1)


def test_generation_refuses_an_empty_notebook_folder(tmp_path):
    with pytest.raises(SystemExit, match="no chapter notebooks"):
        write_student_editions(tmp_path / "out", notebook_dir=tmp_path)
