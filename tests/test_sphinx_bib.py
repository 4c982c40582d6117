from pathlib import Path

from pybtex.database import parse_file

from hybridlib.book.sphinx_bib import author_year

BIB = Path(__file__).resolve().parent.parent / "book" / "references.bib"


def test_labels_read_as_the_author_year_citations_and_are_unique():
    entries = parse_file(str(BIB)).entries
    labels = {key: author_year(entry) for key, entry in entries.items()}
    assert labels["riad2022diffstride"] == "Riad et al., 2022"
    assert labels["bruna2013scattering"] == "Bruna and Mallat, 2013"
    assert labels["zhang2019blurpool"] == "Zhang, 2019"
    assert labels["dsp2021spectralpooling"] == "Signal Processing Stack Exchange, 2021"
    # Two entries with one label could not be told apart in the text either.
    assert len(set(labels.values())) == len(labels)


def test_the_list_is_in_the_alphabetical_order_of_the_labels():
    from hybridlib.book.sphinx_bib import AuthorYearSorting

    entries = list(parse_file(str(BIB)).entries.values())
    labels = [author_year(e) for e in AuthorYearSorting().sort(entries)]
    assert labels.index("Google Research, 2022") < labels.index("Hägele et al., 2024") \
        < labels.index("He et al., 2016")  # braces and accents do not decide the place
    assert labels[-1] == "Zhang, 2019" and labels[0] == "Bruna and Mallat, 2013"
