"""Argparse types for the command lines: numbers checked for range, errors that name them.

argparse prefixes each message with the flag (``argument --epochs: must be ...``), so a
user always learns which flag and which value were refused. Light on purpose: no torch.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ["integer", "number"]


def integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in ``low .. high`` (no upper bound when ``high`` is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"in {low}..{high}"
            raise argparse.ArgumentTypeError(f"must be an integer {bound}, got {text!r}")
        return value

    return parse


def number(low: float, inclusive: bool, high: float | None = None) -> Callable[[str], float]:
    """An argparse type: a finite float ``>= low`` (``> low`` unless ``inclusive``), and at
    most ``high`` when it is given."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        above = value >= low if inclusive else value > low
        if not (math.isfinite(value) and above and (high is None or value <= high)):
            bound = f"{'>=' if inclusive else '>'} {low:g}"
            bound += f" and <= {high:g}" if high is not None else ""
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text!r}")
        return value

    return parse
