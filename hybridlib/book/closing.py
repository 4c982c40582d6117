"""The closing chapter's companion: what the records say about the Hybrid paper's claim,
what they cannot say, and what the paper-scale runs would cost.

Every sentence is computed from the run records and the committed benchmarks, through
the same tests the results and budget chapters use, so the last chapter cannot claim
more than the chapters before it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from hybridlib import budget
from hybridlib.book.evidence_text import claim_equivalence
from hybridlib.book.formatting import dataset_name, signed
from hybridlib.configs import profile_settings
from hybridlib.evidence import CLAIM, comparison_table, direction, equivalence_table
from hybridlib.paths import results_root

__all__ = ["claim_paragraph", "paper_price_paragraph", "scale_paragraph", "study_paragraph"]

VERDICT = {1: "shows the hybrid above DiffStride", -1: "shows the hybrid below DiffStride",
           0: "does not show a difference between the hybrid and DiffStride"}


def claim_paragraph(records: Sequence[dict], profile: str) -> str:
    """What the profile's records say about the claim, hybrid above DiffStride."""
    pair = comparison_table(records, [CLAIM])
    if pair.empty or direction(pair.iloc[0]) is None:
        return (f"Profile {profile} has fewer than two paired seeds of the hybrid and "
                "DiffStride, so it says nothing about the claim yet.")
    row = pair.iloc[0]
    verdict = VERDICT[direction(row)]
    text = (f"On {dataset_name(row.dataset)}, the `{profile}` profile's {row.paired_seeds} "
            f"paired seeds give hybrid − DiffStride = {signed(row.crossed_diff)} points "
            f"(95 % interval {signed(row.crossed_low)} to {signed(row.crossed_high)}, counting "
            f"the noise of seeds and of test images): the test {verdict}. ")
    equivalence = equivalence_table(records, [CLAIM])
    if len(equivalence):
        text += claim_equivalence(equivalence.iloc[0])
    return text


def study_paragraph(study_records: Sequence[dict]) -> str:
    """Where the budget study stands and what its fixed analysis says so far."""
    if not study_records:
        return ("The budget study has no record yet: its question (does the answer change "
                "with longer training?) is open.")
    primary = budget.analyse(study_records)["primary"]
    return " ".join(filter(None, (budget.progress_sentence(study_records),
                                  budget.primary_sentence(primary),
                                  budget.claim_sentence(primary))))


def scale_paragraph(profile: str) -> str:
    """The scale the records have, against the papers'."""
    from hybridlib.configs import config_spec
    from hybridlib.resnet import describe, resnet18

    settings, paper = profile_settings(profile), profile_settings("paper")
    datasets = ", ".join(dataset_name(d) for d in settings["datasets"])
    flops = {w: describe(resnet18(config_spec("diffstride"), in_channels=3, width=w),
                         (3, 32, 32))["flops"] for w in (settings["width"], paper["width"])}
    return (f"This book's records are of {datasets} at width {settings['width']} for "
            f"{settings['epochs']} epochs (and up to {max(budget.budgets())} in the budget "
            f"study). The papers train CIFAR-10 and CIFAR-100 at width {paper['width']}, the "
            f"official DiffStride recipe for {paper['epochs']} epochs (the Hybrid paper's "
            "recipe could not be recovered). CIFAR could not be downloaded where these runs "
            f"were made, a width-{paper['width']} DiffStride network needs "
            f"{flops[paper['width']] / flops[settings['width']]:.0f} times the FLOPs per image "
            f"of a width-{settings['width']} one, and hundreds of epochs of either are GPU "
            "work.")


def paper_price_paragraph() -> str:
    """What the paper profile costs, from the price at an assumed throughput and, when a
    GPU check is recorded (``results/bench/gpu.json``), at the measured one."""
    from hybridlib.sweep import ASSUMED_GPU, price, run_list

    runs = run_list("paper")
    tflops = ASSUMED_GPU["tflops"]
    assumed_hours = price(runs, tflops * 1e12).gpu_hours.sum()
    text = (f"The `paper` profile declares {len(runs)} runs; at {tflops:g} TFLOP/s (an "
            f"assumed A100-class throughput) they take about {assumed_hours:,.0f} GPU-hours. ")
    try:
        check = json.loads((results_root() / "bench" / "gpu.json").read_text("utf8"))
    except (OSError, ValueError):
        return text + ("No GPU has measured that throughput for this code yet: "
                       "`python -m hybridlib.bench gpu --record` on the first GPU at hand "
                       "checks the layers there and replaces the assumption.")
    price = check["paper_price"]
    return text + (f"Measured on {check['device_name']}, the same runs take about "
                   f"{price['gpu_hours']:,.0f} GPU-hours.")
