"""The training chapter's companion: its learning-rate grid, its runs and what they cost,
as tables and sentences computed from the records (the chapter holds the calls)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import pandas as pd

from hybridlib.book.formatting import fixed, listing, num, plural
from hybridlib.codehash import EQUIVALENCES
from hybridlib.runs import ACCEPTED_CODE, CODE_HASH
from hybridlib.tuning import chosen_rates, disagreements

__all__ = [
    "code_sentence",
    "cost_sentence",
    "grid_sentence",
    "grid_wide",
    "made_by_table",
    "runs_made_table",
]

CLOSE = 1.0  # points of validation accuracy: a second-best rate this close could have won


def grid_wide(grid: pd.DataFrame, settings: dict) -> tuple[pd.DataFrame, dict]:
    """The grid (``hybridlib.tuning.grid_table``) one row per configuration and one column
    per rate, beside the profile's rate; with the column formats for ``formatting.table``."""
    wide = grid.pivot(index="config", columns="lr", values="val_acc").rename_axis("configuration")
    wide.columns = [f"lr {num(lr)}" for lr in wide.columns]
    formats = {**{c: fixed(1) for c in wide.columns}, "profile's rate": num}
    wide["profile's rate"] = [settings["lr"].get(c) for c in wide.index]
    return wide.reindex([c for c in settings["configs"] if c in wide.index]), formats


def grid_sentence(grid: pd.DataFrame, profile: str, settings: dict) -> str:
    """What the grid chose, where it went beyond its values, and how sharp each choice is.

    Raises:
        ValueError: if the profile's rates are not the ones the recorded grid chooses.
    """
    differ = disagreements(profile, table=grid)
    if differ:
        raise ValueError(f"the profile's rates disagree with the recorded grid: {differ}")
    spec, chosen = settings["lr_grid"], chosen_rates(grid)
    if not chosen:
        rates = listing(sorted({num(v) for v in settings["lr"].values()}))
        return (f"No configuration's grid is complete yet; until it is, the profile's rates "
                f"({rates}) are provisional.")
    ends = grid.groupby("config").lr.agg(["min", "max"])
    edge = [c for c, lr in chosen.items() if lr in tuple(ends.loc[c])]
    beyond = grid[~grid.lr.isin(spec["values"])].groupby("config", sort=False).lr
    extended = [f"`{c}` to {' and '.join(num(v) for v in lrs)}" for c, lrs in beyond]
    text = (f"The grid is complete for {len(chosen)} of {grid.config.nunique()} configurations, "
            "and the profile uses the rate it chooses for each of them. ")
    if extended:
        text += f"Where the best rate lay at an end, the grid went on: {'; '.join(extended)}. "
    text += (f"For {', '.join(f'`{c}`' for c in edge)} the best rate still lies at an end, "
             f"after the {plural(spec.get('extend', 0), 'step')} the profile allows, so a rate "
             "beyond it might be better still." if edge else
             "Every chosen rate lies inside its configuration's grid.")
    # How sharp the choice is: the best and second-best scores of each complete grid.
    top_two = grid[grid.config.isin(chosen)].groupby("config").val_acc.nlargest(2)
    margins = top_two.groupby(level=0).agg(lambda s: s.iloc[0] - s.iloc[-1])
    close = margins[(margins < CLOSE) & (top_two.groupby(level=0).size() == 2)]
    if len(close):
        gaps = [f"`{c}` {m:.2f}" for c, m in close.sort_values().items()]
        text += (f" Each score is one short run with one seed, so small differences are not "
                 f"reliable: for {plural(len(close), 'configuration')} the second-best rate "
                 f"scores within a point of the chosen one ({listing(gaps)} points), and another "
                 "seed could have chosen it. The chosen rate is a good rate for each network, "
                 "not a proven best.")
    return text


ACCURACY = "accuracy (%)"  # the column group of runs_made_table's three accuracies


def runs_made_table(records: Sequence[dict]) -> pd.DataFrame:
    """One row per recorded run: its rate, accuracies (%, grouped under :data:`ACCURACY`:
    train, val., test; NaN without a validation split), speed and settings hash (the
    appendix of all runs has each run's time)."""
    rows = [{
        "configuration": r["settings"]["config"], "seed": r["settings"]["seed"],
        ("", "lr"): r["settings"]["lr"],
        (ACCURACY, "train"): 100 * r["epochs"][-1]["train_acc"],
        (ACCURACY, "val."): (100 * r["final_val_acc"] if r.get("final_val_acc") is not None
                             else math.nan),
        (ACCURACY, "test"): 100 * r["final_test_acc"],
        ("", "images/s"): r["images_per_s"],
        ("", "settings hash"): r["config_hash"],
    } for r in records]
    if not rows:
        return pd.DataFrame()
    table = pd.DataFrame(rows).set_index(["configuration", "seed"])
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return table


def made_by_table(records: Sequence[dict]) -> pd.DataFrame:
    """How many runs each (commit, code hash, device) made."""
    made_by = pd.DataFrame([{"commit": r["provenance"]["git_commit"] or "unknown",
                             "code hash": r.get("code_hash") or "not recorded",
                             "device": r["provenance"]["device"]} for r in records])
    return made_by.value_counts().rename("runs").to_frame()


def code_sentence(records: Sequence[dict], declared: int) -> str:
    """How many runs are recorded, and whether this book's code made them or code proven to
    compute the same (``hybridlib.verify``'s proofs)."""
    other = [r for r in records if r.get("code_hash") not in ACCEPTED_CODE]
    text = f"{len(records)} of the profile's {declared} runs are recorded. "
    if other:
        return text + (f"{len(other)} of them were made by library code other than this "
                       f"book's (code hash `{CODE_HASH}`): their numbers are those of the code "
                       "they record.")
    text += f"Every record was made by this book's library code (`{CODE_HASH}`)"
    proven = sorted({r["code_hash"] for r in records} & ACCEPTED_CODE - {CODE_HASH})
    if not proven:
        return text + "."
    proofs = json.loads(EQUIVALENCES.read_text())["equivalences"]
    # One proof a record: the direct one against this code where there is one (the others
    # reach it through intermediate code).
    shown = {}
    for e in sorted(proofs, key=lambda e: e["new"] != CODE_HASH):
        if e["old"] in proven:
            shown.setdefault(e["record"], e)
    return text + (f", or by older code ({', '.join(f'`{h}`' for h in proven)}) shown to "
                   "compute what this code computes (`python -m hybridlib.verify`), "
                   f"retraining {len(shown)} of the records: "
                   + "; ".join(f"`{record}`, {e['proof']}" for record, e in shown.items())
                   + ".")


def cost_sentence(cost: pd.DataFrame) -> str:
    """The hours of ``hybridlib.tuning.sweep_cost`` on one process and on two cores."""
    total = cost.loc["total"]
    counted = (f"all {total.declared:.0f} runs of the profile and its grid"
               if total.recorded == total.declared else
               f"the {total.recorded:.0f} runs recorded so far (of {total.declared:.0f} the "
               "profile and its grid declare)")
    return (f"In all {num(total.hours)} hours of one process: about {num(total.hours / 2)} "
            f"hours on two cores with two processes, for {counted}.")
