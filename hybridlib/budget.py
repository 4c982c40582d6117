"""The training-budget study: how the comparison moves as training gets longer.

The cpu profile's runs are 6 epochs of a width-8 network, and its networks are underfit.
This study (profile ``cpu-budget``) trains strided, DiffStride, the hybrid and a control,
DiffStride with amplitude-preserving crops, with a warmup-stable-decay schedule
(``hybridlib.train.learning_rate``) to budgets of 6, 12 and 18 epochs. One run per
(configuration, seed) goes to the largest budget and keeps its state where each shorter
budget's decay starts; the shorter budgets branch off there, so every budget of a seed
costs 21 epochs instead of 36, and each equals a run trained on its own.

The analysis is fixed here, in code, before the first run of the study:

* **Primary**: ``hybrid − diffstride`` at the largest budget, a seed-paired t-interval
  (95 %) and two one-sided tests (TOST) against a margin of ±:data:`MARGIN` points.
* **Secondary**, one Holm family: ``diffstride − strided`` at every budget, and the
  control against its un-rescaled counterpart, ``diffstride_rescaled − diffstride``, at
  the largest budget; seed-paired t-tests. The per-image analysis is the crossed seed x
  image test of :mod:`hybridlib.stats`, which draws no random numbers.
* **Convergence**: per configuration, the mean validation accuracy at the largest
  budget minus that at the budget before it; a configuration has converged only if the
  change is below :data:`CONVERGED` points.
* **Learning rate**: before the seeds run, each configuration's rate is checked at the
  largest budget, seed 0, against its grid neighbours (half and double) on the validation
  split; a neighbour replaces it only if its validation accuracy is higher by more than
  :data:`LR_SWITCH` points. The control is not checked on its own: it trains at
  DiffStride's rate, so that it differs from DiffStride in the crops' amplitude only.

``python -m hybridlib.budget price`` prices the study from the cpu profile's records,
``run`` trains it (started twice, two processes share the work, each unit under a claim),
``status`` counts what is recorded and ``analyse`` prints the tables.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence

import numpy as np

from hybridlib import stats
from hybridlib.argtypes import integer
from hybridlib.claims import claim
from hybridlib.configs import profile_runs, profile_settings
from hybridlib.evidence import PAPER_GAIN
from hybridlib.extras import import_extra
from hybridlib.files import describe_os_error
from hybridlib.price import NoBenchmark, run_hours
from hybridlib.runs import InvalidRecord, RunStore, build_run, decode_correct, read_record
from hybridlib.train import fit, wsd_trunk_epochs

pd = import_extra("pandas", "book", __name__)

__all__ = [
    "ANALYSIS_COMMIT",
    "CONTROL",
    "CONVERGED",
    "LR_SWITCH",
    "MARGIN",
    "PRIMARY",
    "PROFILE",
    "analyse",
    "budget_table",
    "claim_sentence",
    "control_sentence",
    "convergence_sentence",
    "cost_sentence",
    "declared_runs",
    "format_lr_decision",
    "format_secondary",
    "glance",
    "grid_cost_sentence",
    "lr_check_runs",
    "lr_decision",
    "main",
    "price",
    "primary_sentence",
    "progress_sentence",
    "secondary_pairs",
    "seeds_table",
    "study_records",
    "study_runs",
]

PROFILE = "cpu-budget"
PRIMARY = ("hybrid", "diffstride")  # a − b at the largest budget
CONTROL = ("diffstride_rescaled", "diffstride")  # the control against its counterpart
MARGIN = 0.3  # points of test accuracy: the equivalence margin of the primary test
CONVERGED = 0.2  # points of validation accuracy between the last two budgets
LR_SWITCH = 0.3  # points of validation accuracy a neighbouring rate must gain
LEVEL = 0.95


def budgets(profile: str = PROFILE) -> tuple[int, ...]:
    """The study's budgets in epochs, smallest first."""
    return tuple(sorted(profile_settings(profile)["budgets"]))


def secondary_pairs(profile: str = PROFILE) -> list[tuple[str, str, int]]:
    """The secondary family, ``(a, b, budget)``: DiffStride − strided at every budget, and
    the control against DiffStride at the largest."""
    return [("diffstride", "strided", b) for b in budgets(profile)] + [
        (*CONTROL, max(budgets(profile)))
    ]


# ---------------------------------------------------------------------- the runs
def study_runs(profile: str = PROFILE) -> list[tuple[str, int, list[dict]]]:
    """The study's units, ``(config, seed, runs)``: the longest budget's run first (it keeps
    the shorter budgets' trunks), then the shorter budgets, branching off it."""
    longest, shorter = max(budgets(profile)), budgets(profile)[:-1]
    units = []
    for dataset, config, _, seed in profile_runs(profile):
        runs = [build_run(profile, config, seed, dataset,
                          {"epochs": longest, "branches": list(shorter)})]
        runs += [build_run(profile, config, seed, dataset, {"epochs": b}) for b in shorter]
        units.append((config, seed, runs))
    return units


def _neighbours(rate: float, grid: Sequence[float]) -> list[float]:
    """The grid values next to ``rate`` (below and above), where they exist."""
    grid = sorted(grid)
    if rate not in grid:
        raise ValueError(f"learning rate {rate} is not on the grid {grid}")
    i = grid.index(rate)
    return [grid[j] for j in (i - 1, i + 1) if 0 <= j < len(grid)]


def lr_check_runs(profile: str = PROFILE) -> list[dict]:
    """Seed 0 at the largest budget with each configuration's neighbouring rates (the
    runs at the profile's own rate are the study's seed-0 runs)."""
    settings = profile_settings(profile)
    longest = max(budgets(profile))
    return [
        build_run(profile, config, 0, settings["datasets"][0], {"epochs": longest, "lr": rate})
        for config in _checked(profile)
        for rate in _neighbours(settings["lr"][config], settings["lr_grid"]["values"])
    ]


def _checked(profile: str = PROFILE) -> list[str]:
    """The configurations whose rate the check tests: all but the control."""
    return [c for c in profile_settings(profile)["configs"] if c != CONTROL[0]]


def lr_decision(records: Sequence[dict], profile: str = PROFILE) -> pd.DataFrame:
    """Per configuration: validation accuracy (%) at each checked rate, and the rate the
    rule keeps. Columns: config, rate, val_acc, profile_rate, chosen (None until every
    rate of the configuration is recorded)."""
    settings = profile_settings(profile)
    longest = max(budgets(profile))
    found = {(r["settings"]["config"], r["settings"]["lr"]): 100 * r["final_val_acc"]
             for r in records if r["settings"]["seed"] == 0 and r["settings"]["epochs"] == longest}
    rows = []
    for config in _checked(profile):
        own = settings["lr"][config]
        rates = sorted([own, *_neighbours(own, settings["lr_grid"]["values"])])
        accs = {rate: found.get((config, rate), math.nan) for rate in rates}
        chosen = None
        if not any(math.isnan(v) for v in accs.values()):
            best = max(accs, key=accs.get)
            chosen = best if accs[best] > accs[own] + LR_SWITCH else own
        rows += [{"config": config, "rate": rate, "val_acc": acc, "profile_rate": own,
                  "chosen": chosen} for rate, acc in accs.items()]
    return pd.DataFrame(rows, columns=["config", "rate", "val_acc", "profile_rate", "chosen"])


# Strided's rate was checked twice. The first check, around the cpu profile's 0.8, put 0.4
# ahead by more than LR_SWITCH; the profile took 0.4 and the check was repeated around it.
# The first check's run at 0.8, no longer a run of the profile, keeps its record in a
# store of its own, results/superseded/.
FIRST_CHECK = {"config": "strided", "rates": (0.4, 0.8, 1.6), "profile_rate": 0.8,
               "commit": "9872066"}
SUPERSEDED = "superseded"
# Records made before the memory layout was chosen per network carry no layout: those
# networks ran in the contiguous one.
LAYOUT_BEFORE = "contiguous"


def first_check_records(store: RunStore | None = None) -> dict[float, dict]:
    """``{rate: record}`` of the first check of strided's rate (seed 0, largest budget).

    Raises:
        InvalidRecord: if the superseded record is not the first check's run at the
            profile's former rate.
    """
    store = store or RunStore()
    config, longest = FIRST_CHECK["config"], max(budgets())
    found = {}
    for rate in FIRST_CHECK["rates"]:
        if rate == FIRST_CHECK["profile_rate"]:
            path = store.sub(SUPERSEDED).record_path(build_run(PROFILE, config, 0))
            if not path.exists():
                continue
            record = read_record(path)
            made = {k: record["settings"][k] for k in ("config", "seed", "epochs", "lr")}
            if made != {"config": config, "seed": 0, "epochs": longest, "lr": rate}:
                raise InvalidRecord(path, "settings", f"is {made}, not the first check's run")
        else:
            run = build_run(PROFILE, config, 0, None, {"epochs": longest, "lr": rate})
            record = store.recorded(run, accept_code=True)
        if record is not None:
            found[rate] = record
    return found


def _layout(record: dict) -> str:
    return record["settings"].get("layout", LAYOUT_BEFORE).replace("_", "-")


def first_check_sentence(first: dict[float, dict], checks: Sequence[dict]) -> str:
    """The first check of strided's rate and the runs it shares with the second, in words
    (empty until the first check is complete). ``checks``: the records the rate table
    reads."""
    if set(first) != set(FIRST_CHECK["rates"]):
        return ""
    acc = {rate: 100 * r["final_val_acc"] for rate, r in first.items()}
    own = FIRST_CHECK["profile_rate"]
    best = max(acc, key=acc.get)
    gain = acc[best] - acc[own]
    shown = [f"{acc[rate]:.2f} % at {rate:g}" for rate in sorted(acc)]
    text = (f"Strided's rate was checked twice. The first check, around the `cpu` profile's "
            f"{own:g}, gave {', '.join(shown[:-1])} and {shown[-1]}. ")
    if best != own and gain > LR_SWITCH:
        text += (f"The rate {best:g} was ahead by {gain:.2f} points, more than the "
                 f"rule's {LR_SWITCH}, so the study took {best:g} (commit "
                 f"`{FIRST_CHECK['commit']}`) and checked again around it (the table above).")
    else:
        text += f"No rate was ahead of {own:g} by more than the rule's {LR_SWITCH} points."
    longest = max(budgets())
    again = {r["settings"]["lr"]: r for r in checks
             if r["settings"]["config"] == FIRST_CHECK["config"]
             and r["settings"]["seed"] == 0 and r["settings"]["epochs"] == longest
             and r["settings"]["lr"] in first}
    if not again:
        return text
    repeats = [(rate, acc[rate], 100 * again[rate]["final_val_acc"],
                _layout(first[rate]), _layout(again[rate])) for rate in sorted(again)]
    said = "; ".join(f"at {rate:g}, {a:.2f} % ({la}) and {b:.2f} % ({lb})"
                     for rate, a, b, la, lb in repeats)
    moved = max(abs(a - b) for _, a, b, _, _ in repeats)
    layouts = (" but, as their records show, in different memory layouts, which change "
               "nothing but the rounding of the arithmetic"
               if all(la != lb for *_, la, lb in repeats) else "")
    return text + (
        f" Both checks trained {len(repeats)} of these runs, with the same settings and "
        f"seed{layouts}: {said}. A run moved by up to {moved:.2f} points, so a smaller "
        f"difference between single runs may be noise alone. The rule keeps a rate that no "
        f"neighbour beats by more than {LR_SWITCH} points, not one shown to be the best.")


# ---------------------------------------------------------------------- price
def seconds_per_epoch(cpu_records: Sequence[dict]) -> dict[str, float]:
    """Median wall seconds per epoch (training and evaluation) of each configuration in
    the cpu profile's records, measured as this study runs: two single-thread processes."""
    per_config: dict[str, list[float]] = {}
    for r in cpu_records:
        per_config.setdefault(r["settings"]["config"], []).append(
            r["wall_seconds"] / len(r["epochs"]))
    return {c: float(np.median(v)) for c, v in per_config.items()}


# The control trains the DiffStride network with one more multiplication per layer.
PRICED_AS = {"diffstride_rescaled": "diffstride"}


def price(cpu_records: Sequence[dict], processes: int = 2, profile: str = PROFILE
          ) -> pd.DataFrame:
    """The study's price on this machine, per part: runs, epochs, process-hours and wall
    hours with ``processes`` processes sharing the work."""
    speed = seconds_per_epoch(cpu_records)
    longest = max(budgets(profile))
    # A unit trains the longest budget whole, then each shorter budget's decay alone.
    decays = sum(b - wsd_trunk_epochs(b) for b in budgets(profile)[:-1])
    rows = []
    for config, _, runs in study_runs(profile):
        rows.append({"part": "seeds", "config": config, "runs": len(runs),
                     "epochs": longest + decays})
    for run in lr_check_runs(profile):
        rows.append({"part": "learning-rate check", "config": run["config"], "runs": 1,
                     "epochs": longest})
    table = pd.DataFrame(rows)
    table["hours"] = [e * speed[PRICED_AS.get(c, c)] / 3600
                      for c, e in zip(table.config, table.epochs)]
    summary = table.groupby(["part", "config"], sort=False)[["runs", "epochs", "hours"]].sum()
    summary["wall hours"] = summary.hours / processes
    return summary


# ---------------------------------------------------------------------- analysis
def _accuracies(records: Sequence[dict]) -> dict[tuple[str, int], dict[int, dict]]:
    """``{(config, budget): {seed: record}}`` of the study's records at the profile's rates."""
    out: dict[tuple[str, int], dict[int, dict]] = {}
    for r in records:
        c = r["settings"]
        if c.get("overrides") and set(c["overrides"]) - {"epochs", "branches"}:
            continue  # a learning-rate check at another rate
        out.setdefault((c["config"], c["epochs"]), {})[c["seed"]] = r
    return out


def budget_table(records: Sequence[dict]) -> pd.DataFrame:
    """Per configuration and budget: test accuracy (%) mean with its 95 % t-interval, n,
    and the mean validation accuracy."""
    rows = []
    for (config, budget), runs in sorted(_accuracies(records).items(),
                                         key=lambda kv: (kv[0][0], kv[0][1])):
        acc = [100 * r["final_test_acc"] for r in runs.values()]
        row = {"config": config, "budget": budget, "n": len(acc), "mean": float(np.mean(acc)),
               "low": math.nan, "high": math.nan,
               "val_acc": float(np.mean([100 * r["final_val_acc"] for r in runs.values()]))}
        if len(acc) > 1:
            interval = stats.mean_interval(acc, LEVEL)
            row.update(low=interval.low, high=interval.high)
        rows.append(row)
    return pd.DataFrame(rows, columns=["config", "budget", "n", "mean", "low", "high",
                                       "val_acc"])


def seeds_table(records: Sequence[dict]) -> pd.DataFrame:
    """One row per run of the study at the profile's rates: config, budget, test_acc (%)."""
    rows = [{"config": r["settings"]["config"], "budget": budget,
             "test_acc": 100 * r["final_test_acc"]}
            for (_, budget), runs in _accuracies(records).items() for r in runs.values()]
    return pd.DataFrame(rows, columns=["config", "budget", "test_acc"])


def _paired(by: dict, a: str, b: str, budget: int) -> dict | None:
    runs_a, runs_b = by.get((a, budget), {}), by.get((b, budget), {})
    seeds = sorted(set(runs_a) & set(runs_b))
    if len(seeds) < 2:
        return None
    acc_a = [100 * runs_a[s]["final_test_acc"] for s in seeds]
    acc_b = [100 * runs_b[s]["final_test_acc"] for s in seeds]
    paired = stats.paired_difference(acc_a, acc_b, LEVEL)
    row = {"a": a, "b": b, "budget": budget, "seeds": len(seeds), "diff": paired.mean,
           "low": paired.low, "high": paired.high, "p": paired.p}
    correct = [[decode_correct(r[s]["test_correct"], r[s]["test_size"]) for s in seeds]
               for r in (runs_a, runs_b)]
    crossed = stats.crossed_difference(np.array(correct[0]), np.array(correct[1]), LEVEL)
    row.update(crossed_low=crossed.low, crossed_high=crossed.high, crossed_p=crossed.p)
    return row


def analyse(records: Sequence[dict], profile: str = PROFILE) -> dict[str, pd.DataFrame]:
    """The fixed analysis of the study's records: ``budgets`` (:func:`budget_table`),
    ``primary``, ``secondary`` (Holm-adjusted ``p_holm``) and ``convergence``."""
    by = _accuracies(records)
    longest = max(budgets(profile))
    primary = _paired(by, *PRIMARY, longest)
    if primary is not None:
        runs_a, runs_b = by[(PRIMARY[0], longest)], by[(PRIMARY[1], longest)]
        seeds = sorted(set(runs_a) & set(runs_b))
        test = stats.tost([100 * runs_a[s]["final_test_acc"] for s in seeds],
                          [100 * runs_b[s]["final_test_acc"] for s in seeds], MARGIN)
        primary.update(margin=MARGIN, tost_p_lower=test.p_lower, tost_p_upper=test.p_upper,
                       tost_low=test.low, tost_high=test.high, equivalent=test.equivalent)
    secondary = [row for a, b, budget in secondary_pairs(profile)
                 if (row := _paired(by, a, b, budget)) is not None]
    for row, adjusted in zip(secondary, stats.holm([r["p"] for r in secondary])):
        row["p_holm"] = adjusted
    table = budget_table(records)
    convergence = []
    last, before = budgets(profile)[-1], budgets(profile)[-2]
    for config, rows in table.groupby("config", sort=False):
        val = rows.set_index("budget").val_acc
        if last in val and before in val:
            change = float(val[last] - val[before])
            convergence.append({"config": config, "before": before, "last": last,
                                "change": change, "converged": abs(change) < CONVERGED})
    paired = ["a", "b", "budget", "seeds", "diff", "low", "high", "p", "crossed_low",
              "crossed_high", "crossed_p"]
    return {
        "budgets": table,
        "primary": pd.DataFrame([primary] if primary else [], columns=[
            *paired, "margin", "tost_p_lower", "tost_p_upper", "tost_low", "tost_high",
            "equivalent"]),
        "secondary": pd.DataFrame(secondary, columns=[*paired, "p_holm"]),
        "convergence": pd.DataFrame(convergence, columns=["config", "before", "last", "change",
                                                          "converged"]),
    }


def study_records(store: RunStore | None = None, profile: str = PROFILE,
                  accept_code: bool = False) -> list[dict]:
    """Every complete record of the study and of its learning-rate check (made by this
    code, or by code proven to compute the same; by any code with ``accept_code``, as the
    book shows records as they were made)."""
    store = store or RunStore()
    runs = [run for _, _, unit in study_runs(profile) for run in unit] + lr_check_runs(profile)
    found = (store.recorded(run, accept_code) for run in runs)
    return [r for r in found if r is not None]


# ---------------------------------------------------------------------- for the reader
# The commit that fixed this module's question and analysis, before the study's first
# record (tests/test_budget.py checks it against the history).
ANALYSIS_COMMIT = "19c5f2540788ba4667ce5c7edbfc4dc5d9cbea81"


def declared_runs(profile: str = PROFILE) -> tuple[int, int]:
    """How many runs the study declares: its units' budgets, and its rate check's."""
    return (sum(len(runs) for _, _, runs in study_runs(profile)), len(lr_check_runs(profile)))


def progress_sentence(records: Sequence[dict], profile: str = PROFILE) -> str:
    """How much of the study is recorded, and so how provisional the chapter is."""
    seeds, checks = declared_runs(profile)
    # The rate check's runs carry their rate as an override; the study's own runs none.
    recorded = sum(not r["settings"]["overrides"] for r in records)
    checked = len(records) - recorded
    if recorded >= seeds and checked >= checks:
        return (f"All {seeds} runs of the study, and the {checks} of its learning-rate check, "
                "are recorded.")
    check = (f"all {checks} runs" if checked >= checks else f"{checked} of the {checks} runs")
    return (f"The study is under way: {recorded} of its {seeds} runs are recorded (and {check} "
            "of its learning-rate check), so its numbers are provisional, and what needs more "
            "runs says so. The analysis does not change as runs come in: it was fixed before "
            "the first.")


def primary_sentence(primary: pd.DataFrame) -> str:
    """The primary result with its equivalence statement, in words."""
    if primary.empty:
        return (f"The primary comparison, `{PRIMARY[0]}` − `{PRIMARY[1]}` at the largest "
                "budget, needs at least two seeds of both; not recorded yet.")
    r = primary.iloc[0]
    ruled = "is ruled out" if r.equivalent else "is not ruled out"
    return (
        f"At {r.budget} epochs, `{r.a}` − `{r.b}` is {r['diff']:+.2f} points over {r.seeds} "
        f"paired seeds (95 % interval {r.low:+.2f} to {r.high:+.2f}; counting the test "
        f"images' noise too, {r.crossed_low:+.2f} to {r.crossed_high:+.2f}). Two one-sided "
        f"tests against ±{r.margin} points give p = {r.tost_p_lower:.2g} (below "
        f"−{r.margin}) and p = {r.tost_p_upper:.2g} (above +{r.margin}); together they read "
        f"the 90 % interval, {r.tost_low:+.2f} to {r.tost_high:+.2f}, against the margin: a "
        f"difference larger than {r.margin} points {ruled} at {r.budget} epochs."
    )


def convergence_sentence(convergence: pd.DataFrame, profile: str = PROFILE) -> str:
    """The convergence check, configuration by configuration, in words."""
    if convergence.empty:
        return ("The convergence check needs every configuration's two largest budgets; not "
                "recorded yet.")
    parts = [f"`{r.config}` {r.change:+.2f} points "
             f"({'converged' if r.converged else 'still moving'})"
             for r in convergence.itertuples()]
    r = convergence.iloc[0]
    moving = convergence[~convergence.converged.astype(bool)]
    n, k = len(convergence), len(moving)
    if moving.empty:
        verdict = f"All {n} meet the criterion." if n > 1 else "It meets the criterion."
    else:
        verdict = (f"{k} of {n} {'does' if k == 1 else 'do'} not: {r.last} epochs is not yet "
                   f"the converged answer for {'it' if k == 1 else 'them'}.")
    missing = [c for c in profile_settings(profile)["configs"]
               if c not in set(convergence.config)]
    if missing:
        verdict += (f" Not recorded at both budgets yet: {', '.join(f'`{c}`' for c in missing)}.")
    return (f"Mean validation accuracy at {r.last} epochs minus at {r.before} epochs (converged "
            f"below {CONVERGED} points): {'; '.join(parts)}. {verdict}")


def control_sentence(secondary: pd.DataFrame, table: pd.DataFrame) -> str:
    """Whether amplitude-preserving crops close DiffStride's gap to the strided network.

    The verdicts are the secondary family's (Holm-adjusted): the control against DiffStride
    at the largest budget, and DiffStride against the strided network at that budget, which
    says whether there is a gap to close there at all. A last, descriptive sentence gives
    the gaps at the smallest budget, where the results chapter found the reversal.
    """
    rows = secondary[(secondary.a == CONTROL[0]) & (secondary.b == CONTROL[1])]
    if rows.empty:
        return ("The control needs at least two seeds of DiffStride with amplitude-preserving "
                "crops and of DiffStride at the largest budget; not recorded yet.")
    r = rows.iloc[0]
    verdict = "a difference shown" if _shown(r) else "no difference shown"
    text = (f"At {r.budget} epochs, `{r.a}` − `{r.b}` is {r['diff']:+.2f} points over "
            f"{r.seeds} seeds (95 % interval {r.low:+.2f} to {r.high:+.2f}, Holm-adjusted "
            f"p = {r.p_holm:.2g}): {verdict}. ")
    gaps = secondary[(secondary.a == CONTROL[1]) & (secondary.b == "strided")
                     & (secondary.budget == r.budget)]
    if not gaps.empty:
        text += _gap_clause(r, gaps.iloc[0])
    return (text + _first_budget_gaps(table)).strip()


def _shown(row) -> bool:
    """A difference the secondary family shows: Holm-adjusted p < 0.05, 0 outside its interval."""
    return row.p_holm < 0.05 and not (row.low <= 0 <= row.high)


def _gap_clause(control, gap) -> str:
    """What the control's result says about DiffStride's gap to the strided network."""
    text = (f"DiffStride − strided at this budget is {gap['diff']:+.2f} points over "
            f"{gap.seeds} seeds (95 % interval {gap.low:+.2f} to {gap.high:+.2f}, "
            f"Holm-adjusted p = {gap.p_holm:.2g}): ")
    if not _shown(gap):
        return text + ("no gap is shown at this budget, so here the control has no shown gap "
                       "to close. ")
    if gap["diff"] > 0:
        return text + (f"DiffStride is ahead by {gap['diff']:.2f} points, so at this budget "
                       "there is no deficit for the control to close. ")
    text += f"DiffStride trails by {-gap['diff']:.2f} points. "
    if _shown(control):
        closes = control["diff"] > 0
        return text + ("Keeping the amplitude recovers part of that or more. " if closes
                       else "Keeping the amplitude widens it. ")
    # Short of the smallest gap the interval allows: the amplitude explains only part of it.
    if control.high < -gap.high:
        return text + (f"The control's interval ends at {control.high:+.2f}, short of even the "
                       f"smallest gap its interval allows ({-gap.high:.2f}): the amplitude "
                       "does not explain all of it. ")
    return text + "These runs do not decide whether the amplitude explains it. "


def _first_budget_gaps(table: pd.DataFrame) -> str:
    """Mean gaps to the strided network at the smallest budget: description, not a test."""
    first = table[table.budget == table.budget.min()].set_index("config")
    if not {CONTROL[0], CONTROL[1], "strided"} <= set(first.index):
        return ""
    gap = first["mean"] - first.loc["strided", "mean"]
    return (f"At {first.budget.iloc[0]} epochs, the results chapter's budget, the mean gap to "
            f"the strided network is {gap[CONTROL[1]]:+.2f} points for DiffStride and "
            f"{gap[CONTROL[0]]:+.2f} with the amplitude kept (means over "
            f"{first.loc[CONTROL[1], 'n']} seeds of DiffStride, {first.loc[CONTROL[0], 'n']} of "
            f"the control and {first.loc['strided', 'n']} of the strided network; a "
            "description, outside the tested family).")


def claim_sentence(primary: pd.DataFrame) -> str:
    """What the primary result means for the Hybrid paper's claim (empty before it)."""
    if primary.empty:
        return ""
    r = primary.iloc[0]
    where = "above" if PAPER_GAIN > r.high else "below" if PAPER_GAIN < r.low else "inside"
    paper = (f"The paper's gain on CIFAR-10, {PAPER_GAIN:+.2f} points, lies {where} the "
             f"seed-paired 95 % interval of these runs ({r.low:+.2f} to {r.high:+.2f})")
    if r.low > 0:
        text = (f"At {r.budget} epochs the hybrid is ahead of DiffStride on these data, as the "
                "Hybrid paper reports on CIFAR-10.")
    elif r.high < 0:
        text = (f"At {r.budget} epochs the hybrid is behind DiffStride on these data, against "
                "the Hybrid paper's claim.")
    elif r.equivalent:
        text = (f"At {r.budget} epochs a difference between the hybrid and DiffStride larger "
                f"than {r.margin} points is ruled out on these data.")
    elif where == "above":
        text = (f"At {r.budget} epochs these runs show no difference between the hybrid and "
                f"DiffStride, and do not rule out one of {r.margin} points.")
    else:
        text = (f"At {r.budget} epochs these runs neither show a difference nor rule out one "
                f"of {r.margin} points: the Hybrid paper's claim is neither supported nor "
                "contradicted here.")
    if where == "above":
        paper += ": a gain that large is not seen on these data"
    return f"{text} {paper}."


# An epoch that took more than this many times its run's median epoch was not slow: its
# process stood stopped for part of it (stopped and resumed, as a paused job is).
PAUSE_FACTOR = 3


def paused_seconds(record: dict) -> float:
    """Seconds a run stood paused in the epochs it trained itself: the excess over the
    run's median epoch of every epoch longer than :data:`PAUSE_FACTOR` medians."""
    seconds = [e["train_seconds"] for e in record["epochs"]]
    typical = float(np.median(seconds))
    own = seconds[record.get("from_trunk", {}).get("epochs", 0):]
    return sum(s - typical for s in own if s > PAUSE_FACTOR * typical)


def _hours_taken(records: Sequence[dict]) -> float:
    """Process-hours the runs of ``records`` took themselves, pauses left out (a run that
    branched off a trunk trained only its own epochs)."""
    return sum(r["wall_seconds"] - r.get("from_trunk", {}).get("seconds", 0.0)
               - paused_seconds(r) for r in records) / 3600


def cost_sentence(cpu_records: Sequence[dict], records: Sequence[dict],
                  processes: int = 2, profile: str = PROFILE) -> str:
    """The study's price before it ran and the time its recorded runs took, in words."""
    speed = seconds_per_epoch(cpu_records)
    total = price(cpu_records, processes, profile)
    text = (f"Priced before its first run from the `cpu` profile's recorded epochs, the study "
            f"costs {total.hours.sum():.1f} process-hours, about {total['wall hours'].sum():.1f} "
            f"hours with {processes} processes sharing this machine's cores.")
    if records:
        trained = [(r, len(r["epochs"]) - r.get("from_trunk", {}).get("epochs", 0))
                   for r in records]
        took = _hours_taken(records)
        priced = sum(n * speed[PRICED_AS.get(c := r["settings"]["config"], c)]
                     for r, n in trained) / 3600
        checks = sum(bool(r["settings"]["overrides"]) for r in records)
        which = f" ({checks} of them the learning-rate check's)" if checks else ""
        text += (f" Its {len(records)} recorded runs{which} took {took:.1f} process-hours, "
                 f"against {priced:.1f} priced for them ({took / priced:.2f} of the price).")
        paused = [p for r in records if (p := paused_seconds(r))]
        if paused:
            text += (f" That leaves out {sum(paused) / 3600:.1f} hours in which "
                     f"{len(paused)} of them stood paused: an epoch that took more than "
                     f"{PAUSE_FACTOR} times its run's median is counted as paused beyond "
                     "the median.")
    return text


def grid_cost_sentence(records: Sequence[dict], processes: int = 2,
                       profile: str = PROFILE) -> str:
    """The study priced by the grid benchmark (:mod:`hybridlib.price`), which was measured
    after the study had begun, against the time its recorded runs took (empty without
    the benchmark's record)."""
    study = [run for _, _, runs in study_runs(profile) for run in runs] + lr_check_runs(profile)
    try:
        hours = sum(run_hours(run, processes, budgets(profile)) for run in study)
        # Each record priced for the epochs it trained itself (a branch without its trunk
        # trained all of them).
        priced = sum(run_hours(r["settings"], processes) / r["settings"]["epochs"]
                     * (len(r["epochs"]) - r.get("from_trunk", {}).get("epochs", 0))
                     for r in records)
    except NoBenchmark:
        return ""
    text = (f"The benchmark of training steps (`python -m hybridlib.bench grid`), measured "
            f"after the study had begun, prices it at {hours:.1f} process-hours, about "
            f"{hours / processes:.1f} hours with {processes} processes.")
    if records:
        took = _hours_taken(records)
        text += (f" It prices the recorded runs at {priced:.1f} process-hours: they took "
                 f"{took / priced:.2f} of that.")
    return text


def format_lr_decision(decision: pd.DataFrame) -> pd.DataFrame:
    """:func:`lr_decision` as a reader's table: one row per configuration and rate."""
    rows = []
    for r in decision.itertuples():
        pending = r.chosen is None or (isinstance(r.chosen, float) and math.isnan(r.chosen))
        rows.append({
            "configuration": r.config, "rate": f"{r.rate:g}",
            "validation acc. (%)": "not yet" if math.isnan(r.val_acc) else f"{r.val_acc:.2f}",
            "the profile's": "yes" if r.rate == r.profile_rate else "",
            "kept by the rule": "pending" if pending else ("yes" if r.rate == r.chosen else ""),
        })
    return pd.DataFrame(rows).set_index(["configuration", "rate"])


def format_secondary(secondary: pd.DataFrame) -> pd.DataFrame:
    """The secondary family as a reader's table: one row per comparison and budget."""
    rows = [{"comparison": f"{r.a} − {r.b}", "epochs": r.budget, "seeds": r.seeds,
             "by seed: mean [95 % CI]": f"{r.diff:+.2f} [{r.low:+.2f}, {r.high:+.2f}]",
             "seed × image: 95 % CI": f"[{r.crossed_low:+.2f}, {r.crossed_high:+.2f}]",
             "p (Holm)": f"{r.p_holm:#.2g}"} for r in secondary.itertuples()]
    return pd.DataFrame(rows).set_index(["comparison", "epochs"])


def glance(records: Sequence[dict], profile: str = PROFILE) -> str:
    """The intro page's paragraph on the study (Markdown; empty before its first record)."""
    if not records:
        return ""
    primary = analyse(records, profile)["primary"]
    return (f"**Longer training** ([the budget study](chapters/07_budget.ipynb)). "
            f"{progress_sentence(records, profile)} {primary_sentence(primary)} "
            f"{claim_sentence(primary)}").strip()


# ---------------------------------------------------------------------- command line
def _train_unit(runs: list[dict], store: RunStore, progress: bool) -> bool:
    """Train one unit under its claim; False when another process holds it."""
    first = runs[0]
    name = f"{first['config']}-seed{first['seed']}-lr{first['lr']}"
    with claim(store.runs / first["profile"] / "claims" / f"{name}.claim") as other:
        if other is not None:
            print(f"{name}: process {other['pid']} on {other['host']} holds it; skipped",
                  file=sys.stderr)
            return False
        for run in runs:
            fit(run, store, progress=progress)
    return True


def _run(args) -> int:
    store = RunStore(args.results_dir, args.runs_dir)
    checks = [[run] for run in lr_check_runs(args.profile)]
    units = [runs for _, _, runs in study_runs(args.profile)]
    seed_zero = [runs for runs in units if runs[0]["seed"] == 0]
    decision = lr_decision(study_records(store, args.profile), args.profile)
    pending = decision[decision.chosen.isna()].config.unique().tolist()
    if CONTROL[1] in pending:
        pending.append(CONTROL[0])  # the control trains at DiffStride's checked rate
    changed = decision[decision.chosen.notna() & (decision.chosen != decision.profile_rate)]
    if len(changed):
        rows = changed.drop_duplicates("config")
        print("error: the learning-rate check chooses another rate for "
              + ", ".join(f"{r.config} ({r.chosen}, not {r.profile_rate})"
                          for r in rows.itertuples())
              + f": set it in the {args.profile} profile before the seeds run", file=sys.stderr)
        return 1
    # The check first (its seed-0 runs are the study's own); the other seeds only for the
    # configurations whose rate it has kept.
    work = seed_zero + checks + [runs for runs in units if runs[0]["seed"] != 0
                                 and runs[0]["config"] not in pending]
    for runs in work:
        _train_unit(runs, store, not args.no_progress)
    if pending:
        print(f"note: the learning-rate check of {', '.join(pending)} was not complete when "
              "this command started; run it again for their other seeds", file=sys.stderr)
    return 0


def _print_tables(tables: dict[str, pd.DataFrame]) -> None:
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        for name, table in tables.items():
            print(f"\n{name}:\n{table.to_string() if len(table) else '(nothing recorded yet)'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hybridlib.budget",
        description="The training-budget study: its price, its runs, their status and "
                    "its fixed analysis.",
    )
    parser.add_argument("what", choices=["price", "run", "status", "analyse"],
                        help="price: hours on this machine; run: train what is missing "
                        "(start it twice to use two cores); status: what is recorded; "
                        "analyse: the fixed analysis of the records")
    parser.add_argument("--profile", default=PROFILE, help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=integer(1, 64), default=2,
                        help="price: processes sharing the work (default 2)")
    parser.add_argument("--results-dir", default=None, help="root of the run records")
    parser.add_argument("--runs-dir", default=None, help="root of the checkpoints")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        return _main(args)
    except InvalidRecord:
        store = RunStore(args.results_dir, args.runs_dir)
        bad = [e for p in (args.profile, "cpu") for e in store.invalid(p)]
        print(f"{len(bad)} run record(s) are not valid (the study cannot be read until they "
              "are fixed or removed; training replaces them):", file=sys.stderr)
        for err in bad:
            print(f"  bad: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"error: {describe_os_error(err)}", file=sys.stderr)
        return 1


def _main(args) -> int:
    if args.what == "price":
        cpu = RunStore(args.results_dir).load("cpu", accept_code=True)
        table = price(cpu, args.processes, args.profile)
        _print_tables({"price (hours on this machine)": table})
        print(f"\ntotal: {table.hours.sum():.1f} process-hours, {table['wall hours'].sum():.1f} "
              f"wall hours with {args.processes} processes")
        return 0
    if args.what == "run":
        return _run(args)
    records = study_records(RunStore(args.results_dir), args.profile)
    if args.what == "status":
        print(f"{len(records)} of {sum(declared_runs(args.profile))} runs of the study and "
              "its learning-rate check are recorded")
        _print_tables({"learning-rate check": lr_decision(records, args.profile)})
        return 0
    _print_tables(analyse(records, args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
