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
