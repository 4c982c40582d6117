"""Numbers, sentences and tables as the book prints them.

The chapters compute; this module writes what they computed the way a person would:

* :func:`num` prints a number with a few significant digits and no noise: ``0.25``,
  ``0``, ``0.0022``, ``1.3e-16`` (never ``0.250000``, ``-0.00`` or ``2.20e-03``).
* :func:`pm` prints ``mean ± spread`` with the same decimals on both sides and
  non-breaking spaces, so that ``78.38 ± 0.25`` never wraps inside a table cell.
* :func:`pct` prints a share as a percentage, :func:`size` a shape as ``31×31``,
  :func:`dataset_name` a data set as its authors write it (``Fashion-MNIST``).
* :func:`md` shows Markdown from a code cell; the book renders it as MyST, so ``$...$``
  becomes typeset mathematics like the math of the chapters' markdown cells.
* :func:`table` turns a DataFrame into the book's table: numbers formatted by
  :func:`num`, right-aligned, the house CSS class, an optional caption; :func:`split`
  cuts a wide table into narrower ones that fit the text column.

Example::

    from hybridlib.book.formatting import md, num, table
    md(f"The error is {num(err)} at stride $S = {S}$.")
    table(df, caption="reconstruction error")
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence

__all__ = [
    "COMPACT_CLASS",
    "TABLE_CLASS",
    "dataset_name",
    "fixed",
    "listing",
    "md",
    "num",
    "pct",
    "plural",
    "pm",
    "signed",
    "size",
    "split",
    "table",
]

TABLE_CLASS = "hl-table"  # styled by book/_static/hybrid.css
COMPACT_CLASS = "hl-compact"  # a card per row on a narrow screen (hybrid.css, hybrid.js)
NBSP = "\u00a0"
MINUS = "\u2212"
DATASET_NAMES = {
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "fashion_mnist": "Fashion-MNIST",
    "synthetic": "synthetic stripes",
}


def dataset_name(key: str) -> str:
    """A data set's key (``fashion_mnist``) as its authors write it (``Fashion-MNIST``)."""
    return DATASET_NAMES.get(key, key)


def listing(items) -> str:
    """``a``, ``a and b``, ``a, b and c``: items (any, as ``str``) joined for a sentence."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def plural(n: int, word: str) -> str:
    """``1 seed``, ``3 seeds``: a count and its noun (plural by an added s)."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def num(x, digits: int = 3, sci_below: float = 1e-4, sci_above: float = 1e7) -> str:
    """``x`` with ``digits`` significant digits, as a person writes it.

    Trailing zeros are dropped (``0.25``, not ``0.250``), a value that rounds to zero is
    ``0`` (never ``-0``), integers print without a decimal point, and only magnitudes
    below ``sci_below`` or from ``sci_above`` up use powers of ten (``1.3e-16``). NaN
    prints as an en dash. Negative numbers take a true minus sign.

    >>> [num(v) for v in (0.25, 0.250000, -0.0001, 0.0022, 2.2e-3, 1234.5, 3, 1e-16)]
    ['0.25', '0.25', '−0.0001', '0.0022', '0.0022', '1234', '3', '1e-16']
    """
    if not _is_number(x):
        return str(x)
    x = float(x)
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return ("" if x > 0 else MINUS) + "∞"
    if x == 0:
        return "0"
    magnitude = abs(x)
    if magnitude < sci_below or magnitude >= sci_above:
        mantissa, exponent = f"{x:.{max(digits - 1, 0)}e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
        return f"{mantissa}e{int(exponent)}".replace("-", MINUS, 1 if x < 0 else 0)
    decimals = max(digits - 1 - math.floor(math.log10(magnitude)), 0)
    text = f"{x:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", "0"):
        return "0"
    return text.replace("-", MINUS)


def _decimals_for(spread: float, digits: int) -> int:
    """Decimals that show ``spread`` with ``digits`` significant digits (at least 0)."""
    if not spread or not math.isfinite(spread):
        return 2
    return max(digits - 1 - math.floor(math.log10(abs(spread))), 0)


def signed(x: float, decimals: int = 2) -> str:
    """``x`` with its sign and a true minus; a value that rounds to zero has no sign.

    >>> signed(-1.234), signed(0.5, 1), signed(-0.04, 1)
    ('\u22121.23', '+0.5', '0.0')
    """
    text = f"{float(x):+.{decimals}f}"
    return text[1:] if float(text) == 0 else text.replace("-", MINUS)


def pm(mean, spread, decimals: int | None = None, digits: int = 2) -> str:
    """``mean ± spread`` with one number of decimals for both, unbreakable.

    ``decimals`` defaults to what shows ``spread`` with ``digits`` significant digits.

    >>> pm(78.3849, 0.2512)
    '78.38\\xa0±\\xa00.25'
    """
    if decimals is None:
        decimals = _decimals_for(float(spread), digits)
    left = f"{float(mean):.{decimals}f}"
    right = f"{float(spread):.{decimals}f}"
    left = "0" if float(left) == 0 else left
    return f"{left.replace('-', MINUS)}{NBSP}±{NBSP}{right}"


def pct(share, decimals: int = 1) -> str:
    """A share (0.731) as a percentage (``73.1 %``, with a non-breaking space)."""
    value = f"{100 * float(share):.{decimals}f}"
    value = "0" if float(value) == 0 else value
    return f"{value.replace('-', MINUS)}{NBSP}%"


def size(shape: Sequence[int]) -> str:
    """A shape as ``31×31`` (the last two entries of a tensor shape, or any pair)."""
    return "×".join(str(int(n)) for n in tuple(shape)[-2:])


def fixed(decimals: int) -> Callable:
    """A format for :func:`table`: ``decimals`` decimals (``81.0``), an en dash for NaN."""

    def fmt(value) -> str:
        if not _is_number(value):
            return str(value)
        if math.isnan(value):
            return "\u2013"
        text = f"{float(value):.{decimals}f}"
        return "0" if float(text) == 0 else text.replace("-", MINUS)

    return fmt


def md(text: str) -> None:
    """Show ``text`` as Markdown (rendered as MyST, math included) below the cell."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def _formatter(digits: int) -> Callable:
    def default(value):
        return num(value, digits) if _is_number(value) else value

    return default


def table(
    df,
    caption: str | None = None,
    digits: int = 3,
    formats: Mapping[str, str | Callable] | None = None,
    hide_index: bool = False,
    compact: bool = False,
):
    """The book's rendering of a DataFrame: a pandas ``Styler``.

    Every number goes through :func:`num` (``digits`` significant digits) unless
    ``formats`` gives its column a format string (``"{:.1%}"``) or a function; numeric
    columns are right-aligned, the others left-aligned; the table carries
    :data:`TABLE_CLASS`, whose CSS pads the cells, keeps numbers on one line and lets only
    a table wider than the text column scroll.

    The book numbers every table by its caption ("Table 6.1", see
    :mod:`hybridlib.book.sphinx_fixes`), and a table without one fails the book's build.
    A named index heads its own column in the one header row (pandas would give it a row
    of its own). ``compact`` marks a table that a phone shows as one card per row, each
    value beside its column's name (``book/_static/hybrid.css`` and ``hybrid.js``).
    """
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    corner = (df.index.name is not None and df.index.nlevels == 1
              and df.columns.nlevels == 1 and df.columns.name is None and not hide_index)
    if corner:  # the index's name in the header row's corner, instead of a row below it
        df = df.rename_axis(columns=df.index.name)
    styler = df.style.format(_formatter(digits))
    for column, fmt in (formats or {}).items():
        styler = styler.format(fmt, subset=[column])
    numeric = [c for c in df.columns if is_numeric_dtype(df[c]) and not is_bool_dtype(df[c])]
    classes = f"{TABLE_CLASS} {COMPACT_CLASS}" if compact else TABLE_CLASS
    styler = styler.set_table_attributes(f'class="{classes}"')
    if numeric:
        styler = styler.set_properties(
            subset=numeric, **{"text-align": "right", "white-space": "nowrap"}
        )
    text = [c for c in df.columns if c not in numeric]
    if text:  # words read from the left, whatever the theme's default
        styler = styler.set_properties(subset=text, **{"text-align": "left"})
    if caption:
        styler = styler.set_caption(caption)
    if hide_index:
        styler = styler.hide(axis="index")
    elif corner:
        styler = styler.hide(axis="index", names=True)
    return styler


def split(df, max_columns: int) -> list:
    """``df`` cut into consecutive groups of at most ``max_columns`` columns (same index)."""
    if max_columns < 1:
        raise ValueError(f"max_columns must be >= 1, got {max_columns}")
    return [df.iloc[:, i : i + max_columns] for i in range(0, df.shape[1], max_columns)]
