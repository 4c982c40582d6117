"""The book's number, sentence and table formatting (hybridlib.book.formatting)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hybridlib.book.formatting import (
    TABLE_CLASS,
    listing,
    num,
    pct,
    plural,
    pm,
    signed,
    size,
    split,
    table,
)

MINUS = "\u2212"


@pytest.mark.parametrize(
    "value, text",
    [
        (0.25, "0.25"),
        (0.250000, "0.25"),
        (-0.0, "0"),
        (0.0, "0"),
        (0.0022, "0.0022"),
        (2.20e-03, "0.0022"),
        (1.0, "1"),
        (3, "3"),
        (np.int64(7), "7"),
        (np.float32(0.5), "0.5"),
        (0.13349, "0.133"),
        (0.9996, "1"),
        (78.3849, "78.4"),
        (1234.5, "1234"),
        (-0.139, f"{MINUS}0.139"),
        (1.3e-16, "1.3e-16"),
        (-2.5e-9, f"{MINUS}2.5e-9"),
        (float("nan"), "–"),
    ],
)
def test_num_writes_numbers_as_a_person_would(value, text):
    assert num(value) == text


def test_num_never_prints_noise():
    for value in np.concatenate([np.linspace(-1, 1, 201), np.logspace(-12, 6, 50)]):
        text = num(value)
        assert text not in ("-0", f"{MINUS}0", "-0.0")
        assert "e-0" not in text and not text.endswith(".") and "+" not in text
        if "." in text and "e" not in text:
            assert not text.endswith("0"), text


def test_num_passes_text_through_and_honours_digits():
    assert num("stride") == "stride"
    assert num(True) == "True"
    assert num(0.123456, digits=5) == "0.12346"


def test_pm_uses_one_precision_and_does_not_wrap():
    text = pm(78.3849, 0.2512)
    assert text == "78.38\u00a0±\u00a00.25"
    assert " " not in text
    assert pm(0.1331, 0.0123) == "0.133\u00a0±\u00a00.012"
    assert pm(-0.0001, 0.01, decimals=2) == "0\u00a0±\u00a00.01"
    assert pm(5, 0) == "5.00\u00a0±\u00a00.00"


def test_pct_and_size():
    assert pct(0.7314) == "73.1\u00a0%"
    assert pct(-0.0001) == "0\u00a0%"
    assert size((1, 3, 31, 15)) == "31×15"
    assert size([24, 24]) == "24×24"


def test_table_formats_aligns_and_classes():
    df = pd.DataFrame(
        {"method": ["spectral", "max"], "error": [0.250000, 2.2e-3], "share": [0.5, 0.25]}
    )
    html = table(df, caption="errors", formats={"share": "{:.0%}"}).to_html()
    assert f'class="{TABLE_CLASS}"' in html
    assert ">0.25<" in html and ">0.0022<" in html and ">50%<" in html
    assert "0.250000" not in html and "2.20e-03" not in html
    assert "text-align: right" in html and "errors" in html


def test_split_keeps_the_index_and_every_column():
    df = pd.DataFrame(np.arange(14).reshape(2, 7), columns=list("abcdefg"))
    parts = split(df, 3)
    assert [list(p.columns) for p in parts] == [list("abc"), list("def"), ["g"]]
    assert all((p.index == df.index).all() for p in parts)
    with pytest.raises(ValueError):
        split(df, 0)


def test_text_columns_may_wrap_and_numeric_ones_do_not():
    import pandas as pd

    from hybridlib.book.formatting import table

    df = pd.DataFrame({"claim": ["a long sentence that may wrap"], "value": [0.25]})
    html = table(df).to_html()
    rules = dict(rule.split("{", 1) for rule in html.split("</style>")[0].split("}")
                 if "{" in rule)
    col0 = " ".join(v for k, v in rules.items() if "col0" in k)
    col1 = " ".join(v for k, v in rules.items() if "col1" in k)
    assert "nowrap" in col1 and "text-align: right" in col1
    assert "nowrap" not in col0 and "text-align: left" in col0


def test_fixed_keeps_its_decimals_and_marks_missing_values():
    from hybridlib.book.formatting import fixed

    one = fixed(1)
    assert [one(v) for v in (81, 80.96, float("nan"), -0.04, -1.25)] == [
        "81.0", "81.0", "\u2013", "0", "\u22121.2"]
    assert one("text") == "text"


def test_listing_joins_items_for_a_sentence():
    assert listing([]) == ""
    assert listing(["a"]) == "a"
    assert listing([1, 2]) == "1 and 2"
    assert listing(f"`{c}`" for c in "abc") == "`a`, `b` and `c`"


def test_plural_adds_an_s_except_for_one():
    assert [plural(n, "seed") for n in (0, 1, 2)] == ["0 seeds", "1 seed", "2 seeds"]


def test_signed_shows_the_sign_with_a_true_minus_and_none_on_zero():
    assert signed(0.183) == "+0.18" and signed(-1.1, 1) == "\u22121.1"
    assert signed(-0.04, 1) == "0.0" and signed(0.004) == "0.00"


def test_a_named_index_heads_its_column_in_the_one_header_row():
    df = pd.DataFrame({"test acc. (%)": [91.2, 90.8]},
                      index=pd.Index(["hybrid", "diffstride"], name="configuration"))
    html = table(df, caption="c").to_html()
    head = html.split("<thead>")[1].split("</thead>")[0]
    assert head.count("<tr>") == 1  # not a second row for the index's name
    assert "configuration" in head and "test acc. (%)" in head
    assert "configuration" not in df.columns.names  # the caller's frame is untouched


def test_a_compact_table_carries_the_class_of_the_phone_form():
    from hybridlib.book.formatting import COMPACT_CLASS

    df = pd.DataFrame({"a": [1.0]})
    assert f'class="{TABLE_CLASS} {COMPACT_CLASS}"' in table(df, compact=True).to_html()
    assert COMPACT_CLASS not in table(df).to_html()
