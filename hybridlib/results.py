"""Run records -> tidy tables, and the accuracies the papers report, as data.

Run records are the JSON files ``hybridlib.train.fit`` writes to
``<results>/<profile>/<dataset>/<config>/seed<k>.json``; ``hybridlib.runs.RunStore.load``
reads a profile's. This module turns them into pandas tables:

* :func:`runs_table`: one row per run (accuracy in %, cost, sizes, strides, provenance);
* :func:`summary_table`: mean and standard deviation over seeds per data set and
  configuration, with a formatted ``"91.23 ± 0.12"`` column;
* :func:`curves_table` and :func:`strides_table`: long tables per epoch, for plots.

:data:`PAPER_RESULTS` holds the numbers the DiffStride paper, the official DiffStride
README, the Hybrid paper, the spectral-pooling paper and the Fashion-MNIST README report,
each with its source; :func:`paper_table` flattens them, :func:`hybrid_baseline_check`
puts the Hybrid paper's baselines next to the DiffStride paper's means.

Example::

    from hybridlib.results import runs_table, summary_table
    from hybridlib.runs import RunStore
    records = RunStore().load("cpu", accept_code=True)
    summary_table(runs_table(records))
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

from hybridlib.configs import CONFIGS
from hybridlib.extras import import_extra

pd = import_extra("pandas", "book", __name__)

__all__ = [
    "PAPER_RESULTS",
    "config_label",
    "curves_table",
    "hybrid_baseline_check",
    "paper_table",
    "runs_table",
    "settings_comparison",
    "strides_table",
    "summary_table",
]

POSITIONS = ("stem", "stage1", "stage2", "stage3", "stage4", "head", "gap")
# The columns of runs_table, in order.
RUN_COLUMNS = [
    "profile", "dataset", "config", "seed", "description", "epochs", "width", "train_size",
    "test_size", "test_acc", "val_acc", "train_acc", "test_loss", "lr", "wall_seconds",
    "images_per_s", "parameters", "gflops", *(f"size_{p}" for p in POSITIONS),
    *(f"stride_{p}" for p in ("stem", "stage2", "stage3", "stage4", "head")),
    "git_commit", "library_modified", "code_hash", "torch", "device", "device_name", "date",
]


def config_label(record: dict) -> str:
    """The configuration's name as the record's folder spells it (``diffstride_s313``)."""
    run = record["settings"]
    label = run["config"]
    if run.get("strides") is not None:
        label += "_s" + "".join(str(int(s)) for s in run["strides"])
    return label


def _order(label: str) -> tuple[int, str]:
    """Sort key: the order of ``CONFIGS``, then the stride suffix."""
    names = list(CONFIGS)
    match = re.fullmatch(r"(.+)_s(\d{3})", label)
    base = match.group(1) if match and label not in CONFIGS else label
    return (names.index(base) if base in names else len(names), label)


def _ordered_configs(labels: Iterable[str]) -> list[str]:
    return sorted(set(labels), key=_order)


def _size(pair) -> str | None:
    return None if pair is None else f"{int(pair[0])}x{int(pair[1])}"


def _stride(pair) -> str | None:
    return None if pair is None else f"{pair[0]:.2f}x{pair[1]:.2f}"


# ---------------------------------------------------------------------- tables
def runs_table(records: Sequence[dict]) -> pd.DataFrame:
    """One row per run.

    Columns: profile, dataset, config, seed, description, epochs, width, train_size,
    test_size, test_acc, val_acc and train_acc (last epoch, in %; val_acc NaN without a
    validation split), test_loss, lr, wall_seconds,
    images_per_s, parameters, gflops (per image, at the end of training), ``size_<pos>``
    (final feature-map size ``"HxW"`` after each position), ``stride_<pos>`` (final
    learned stride ``"S_hxS_w"`` of each DiffStride layer, else missing), git_commit,
    library_modified, code_hash, torch, device, device_name, date. An empty ``records``
    gives an empty table with these columns.
    """
    rows = []
    for r in records:
        run, prov = r["settings"], r.get("provenance", {})
        last = r["epochs"][-1] if r.get("epochs") else {}
        row = {
            "profile": run["profile"],
            "dataset": run["dataset"],
            "config": config_label(r),
            "seed": int(run["seed"]),
            "description": r.get("description", ""),
            "epochs": len(r.get("epochs", [])),
            "width": run.get("width"),
            "train_size": r.get("train_size"),
            "test_size": r.get("test_size"),
            "test_acc": 100.0 * r["final_test_acc"],
            "val_acc": 100.0 * r["final_val_acc"] if r.get("final_val_acc") is not None
            else math.nan,
            "train_acc": 100.0 * last["train_acc"] if "train_acc" in last else math.nan,
            "test_loss": r.get("final_test_loss", math.nan),
            "lr": run.get("lr"),
            "wall_seconds": r.get("wall_seconds", math.nan),
            "images_per_s": r.get("images_per_s", math.nan),
            "parameters": r.get("parameters"),
            "gflops": r.get("flops", math.nan) / 1e9,
        }
        sizes, strides = r.get("feature_sizes", {}), r.get("learned_strides", {})
        for position in POSITIONS:
            row[f"size_{position}"] = _size(sizes.get(position))
        for position in ("stem", "stage2", "stage3", "stage4", "head"):
            row[f"stride_{position}"] = _stride(strides.get(position))
        row.update(
            git_commit=prov.get("git_commit"),
            library_modified=prov.get("library_modified"),
            code_hash=r.get("code_hash"),
            torch=prov.get("torch"),
            device=prov.get("device"),
            device_name=prov.get("device_name"),
            date=prov.get("date"),
        )
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=RUN_COLUMNS)
    return pd.DataFrame(rows)


def _fmt(mean: float, std: float, digits: int = 2) -> str:
    if std is None or not math.isfinite(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation (over seeds, ddof 1) per profile, data set and config.

    Columns: profile, dataset, config, n_seeds, test_acc_mean, test_acc_std, test_acc
    (formatted ``"91.23 ± 0.12"``, only the mean for one seed), train_acc_mean, gflops,
    images_per_s, wall_seconds (means), parameters, description. Rows follow the order
    of ``hybridlib.configs.CONFIGS`` within each data set.
    """
    if df.empty:
        raise ValueError("summary_table needs at least one run")
    keys = ["profile", "dataset", "config"]
    grouped = df.groupby(keys, sort=False)
    out = grouped.agg(
        n_seeds=("seed", "nunique"),
        test_acc_mean=("test_acc", "mean"),
        test_acc_std=("test_acc", "std"),
        train_acc_mean=("train_acc", "mean"),
        gflops=("gflops", "mean"),
        images_per_s=("images_per_s", "mean"),
        wall_seconds=("wall_seconds", "mean"),
        parameters=("parameters", "first"),
        description=("description", "first"),
    ).reset_index()
    out["test_acc"] = [
        _fmt(m, s) for m, s in zip(out["test_acc_mean"], out["test_acc_std"])
    ]
    out["_order"] = out["config"].map(_order)
    out = out.sort_values(["profile", "dataset", "_order"]).drop(columns="_order")
    columns = [*keys, "n_seeds", "test_acc", "test_acc_mean", "test_acc_std", "train_acc_mean",
               "gflops", "images_per_s", "wall_seconds", "parameters", "description"]
    return out[columns].reset_index(drop=True)


def curves_table(records: Sequence[dict]) -> pd.DataFrame:
    """Long table, one row per (run, epoch).

    Columns: profile, dataset, config, seed, epoch, train_loss, train_acc (%), val_loss,
    val_acc (%), test_loss, test_acc (%), lr_last, train_seconds, images_per_s, gflops.
    A score a run did not measure at an epoch is NaN (with a validation split, the test
    set is scored after the last epoch only).
    """
    rows = []
    for r in records:
        run = r["settings"]
        for e in r.get("epochs", []):
            rows.append(
                {
                    "profile": run["profile"],
                    "dataset": run["dataset"],
                    "config": config_label(r),
                    "seed": int(run["seed"]),
                    "epoch": int(e["epoch"]),
                    "train_loss": e.get("train_loss", math.nan),
                    "train_acc": 100.0 * e.get("train_acc", math.nan),
                    "val_loss": e.get("val_loss", math.nan),
                    "val_acc": 100.0 * e.get("val_acc", math.nan),
                    "test_loss": e.get("test_loss", math.nan),
                    "test_acc": 100.0 * e.get("test_acc", math.nan),
                    "lr_last": e.get("lr_last", math.nan),
                    "train_seconds": e.get("train_seconds", math.nan),
                    "images_per_s": e.get("images_per_s", math.nan),
                    "gflops": e.get("flops", math.nan) / 1e9,
                }
            )
    return pd.DataFrame(rows)


def strides_table(records: Sequence[dict]) -> pd.DataFrame:
    """Long table of the learned strides: one row per (run, epoch, position, axis).

    Columns: profile, dataset, config, seed, epoch, position, axis (``"h"`` or ``"w"``),
    stride, initial (the spec's initial stride at that position). Runs without a
    DiffStride layer contribute no rows.
    """
    rows = []
    for r in records:
        run = r["settings"]
        spec = run.get("spec", {})
        for e in r.get("epochs", []):
            for position, pair in (e.get("learned_strides") or {}).items():
                entry = spec.get(position)
                initial = float(entry[1]) if entry else math.nan
                for axis, value in zip(("h", "w"), pair):
                    rows.append(
                        {
                            "profile": run["profile"],
                            "dataset": run["dataset"],
                            "config": config_label(r),
                            "seed": int(run["seed"]),
                            "epoch": int(e["epoch"]),
                            "position": position,
                            "axis": axis,
                            "stride": float(value),
                            "initial": initial,
                        }
                    )
    columns = ["profile", "dataset", "config", "seed", "epoch", "position", "axis", "stride",
               "initial"]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------- the papers' numbers
_DIFFSTRIDE_SOURCE = (
    "Riad et al., Learning Strides in Convolutional Neural Networks, ICLR 2022 "
    "(arXiv 2202.01653), ResNet-18 table, mean ± std (via a secondary source)"
)
_README_SOURCE = (
    "google-research/diffstride README: pre-activation ResNet-18 with mixup, 3 runs"
)
_HYBRID_SOURCE = (
    "Rafif et al., Hybrid of DiffStride and Spectral Pooling in CNNs, arXiv 2401.09008 (2024)"
)
_SPECTRAL_SOURCE = (
    "Rippel et al., Spectral Representations for CNNs, NeurIPS 2015 (arXiv 1506.03767), "
    "reported test error of their own architecture"
)
_FASHION_SOURCE = "zalandoresearch/fashion-mnist README benchmark (unverified submissions)"

# DiffStride paper: {dataset: {initial strides: {model: (mean, std)}}}, in %.
_DIFFSTRIDE_TABLE = {
    "cifar10": {
        "(2,2,2)": {"strided": (91.4, 0.2), "spectral": (92.4, 0.1), "diffstride": (92.5, 0.1)},
        "(2,2,3)": {"strided": (90.5, 0.1), "spectral": (92.2, 0.2), "diffstride": (92.8, 0.1)},
        "(1,3,1)": {"strided": (90.0, 0.4), "spectral": (91.1, 0.1), "diffstride": (92.4, 0.1)},
        "(3,1,3)": {"strided": (85.7, 0.1), "spectral": (90.9, 0.2), "diffstride": (92.4, 0.1)},
        "(3,1,2)": {"strided": (86.4, 0.1), "spectral": (90.9, 0.2), "diffstride": (92.3, 0.1)},
        "(3,2,3)": {"strided": (82.0, 0.6), "spectral": (89.2, 0.2), "diffstride": (92.3, 0.1)},
        "mean": {"strided": (87.7, None), "spectral": (91.1, None), "diffstride": (92.4, None)},
    },
    "cifar100": {
        "(2,2,2)": {"strided": (66.8, 0.2), "spectral": (73.7, 0.1), "diffstride": (73.4, 0.5)},
        "(2,2,3)": {"strided": (63.4, 0.5), "spectral": (73.7, 0.2), "diffstride": (73.5, 0.0)},
        "(1,3,1)": {"strided": (64.9, 0.5), "spectral": (70.3, 0.3), "diffstride": (73.4, 0.2)},
        "(3,1,3)": {"strided": (55.3, 0.8), "spectral": (69.4, 0.4), "diffstride": (73.7, 0.4)},
        "(3,1,2)": {"strided": (56.2, 0.3), "spectral": (69.9, 0.2), "diffstride": (73.4, 0.3)},
        "(3,2,3)": {"strided": (48.2, 0.2), "spectral": (66.6, 0.5), "diffstride": (73.6, 0.4)},
        "mean": {"strided": (59.1, None), "spectral": (70.6, None), "diffstride": (73.5, None)},
    },
}

# Official README: {dataset: {initial strides (stem, stage1..4): {model: mean}}}.
_README_TABLE = {
    "cifar10": {
        "(1,1,2,2,2)": {"strided": 91.06, "spectral": 93.49, "diffstride": 94.20},
        "(1,1,3,2,3)": {"strided": 89.21, "spectral": 92.00, "diffstride": 94.19},
    },
    "cifar100": {
        "(1,1,2,2,2)": {"strided": 65.75, "spectral": 72.86, "diffstride": 76.08},
        "(1,1,3,2,3)": {"strided": 60.82, "spectral": 67.74, "diffstride": 76.09},
    },
}


def _row(key, source, dataset, model, acc, std=None, strides=None, n_runs=None, note=""):
    return {
        "key": key,
        "source": source,
        "dataset": dataset,
        "model": model,
        "config": model if model in CONFIGS else None,
        "init_strides": strides,
        "test_acc": acc,
        "test_acc_std": std,
        "n_runs": n_runs,
        "note": note,
    }


def _paper_results() -> dict[str, dict]:
    diffstride = [
        _row("diffstride_paper", _DIFFSTRIDE_SOURCE, dataset, model, mean, std, strides,
             None, "mean over the six initial-stride rows" if strides == "mean" else "")
        for dataset, table in _DIFFSTRIDE_TABLE.items()
        for strides, models in table.items()
        for model, (mean, std) in models.items()
    ]
    readme = [
        _row("official_readme", _README_SOURCE, dataset, model, acc, None, strides, 3,
             "pre-activation ResNet-18 trained with mixup")
        for dataset, table in _README_TABLE.items()
        for strides, models in table.items()
        for model, acc in models.items()
    ]
    hybrid = [
        _row("hybrid_paper", _HYBRID_SOURCE, "cifar10", "hybrid", 93.34),
        _row("hybrid_paper", _HYBRID_SOURCE, "cifar10", "diffstride", 92.40,
             note="the Hybrid paper's DiffStride baseline"),
        _row("hybrid_paper", _HYBRID_SOURCE, "cifar100", "hybrid", 73.82),
        _row("hybrid_paper", _HYBRID_SOURCE, "cifar100", "diffstride", 70.6,
             note="the Hybrid paper's CIFAR-100 baseline; equals the DiffStride paper's "
             "spectral-pooling mean, not its DiffStride mean"),
    ]
    spectral = [
        _row("spectral_paper", _SPECTRAL_SOURCE, "cifar10", "spectral_paper_network",
             round(100 - 8.6, 2), note="test error 8.6 %"),
        _row("spectral_paper", _SPECTRAL_SOURCE, "cifar100", "spectral_paper_network",
             round(100 - 31.6, 2), note="test error 31.6 %"),
    ]
    fashion = [
        _row("fashion_mnist_readme", _FASHION_SOURCE, "fashion_mnist", model, acc, note=note)
        for model, acc, note in (
            ("2 conv + pooling", 91.6, "small CNN"),
            ("ResNet18 with augmentation", 94.9, "full training set, augmentation"),
            ("WRN40-4", 96.7, "wide residual network"),
        )
    ]
    return {
        "diffstride_paper": {"source": _DIFFSTRIDE_SOURCE, "rows": diffstride},
        "official_readme": {"source": _README_SOURCE, "rows": readme},
        "hybrid_paper": {"source": _HYBRID_SOURCE, "rows": hybrid},
        "spectral_paper": {"source": _SPECTRAL_SOURCE, "rows": spectral},
        "fashion_mnist_readme": {"source": _FASHION_SOURCE, "rows": fashion},
    }


#: ``{key: {"source": str, "rows": [tidy row dicts]}}``; accuracies in %.
PAPER_RESULTS: dict[str, dict] = _paper_results()


def paper_table(keys: Iterable[str] | None = None) -> pd.DataFrame:
    """The papers' reported accuracies as one tidy table (one row per number).

    Columns: key, source, dataset, model, config (our configuration of the same kind, if
    any), init_strides (``"(2,2,2)"``, ``"mean"`` or missing), test_acc (%), test_acc_std,
    n_runs, note. ``keys`` selects sources of :data:`PAPER_RESULTS`.
    """
    keys = list(PAPER_RESULTS) if keys is None else list(keys)
    unknown = set(keys) - set(PAPER_RESULTS)
    if unknown:
        raise ValueError(f"unknown sources {sorted(unknown)}; valid: {', '.join(PAPER_RESULTS)}")
    return pd.DataFrame([row for key in keys for row in PAPER_RESULTS[key]["rows"]])


def _lookup(key: str, dataset: str, model: str, strides: str | None = None) -> float:
    for row in PAPER_RESULTS[key]["rows"]:
        if row["dataset"] == dataset and row["model"] == model and (
            strides is None or row["init_strides"] == strides
        ):
            return row["test_acc"]
    raise KeyError((key, dataset, model, strides))


def hybrid_baseline_check() -> pd.DataFrame:
    """Which DiffStride-paper number is the Hybrid paper's baseline, and the gains it gives.

    One row per CIFAR data set: the Hybrid paper's hybrid accuracy and baseline, the
    DiffStride paper's DiffStride and spectral-pooling means (over its six initial-stride
    rows), which of the two the baseline equals, and the hybrid's gain over the baseline
    (as claimed), over the DiffStride mean and over the spectral mean, plus the official
    README's DiffStride number at strides (1,1,2,2,2) for context (another recipe).
    """
    rows = []
    for dataset in ("cifar10", "cifar100"):
        hybrid = _lookup("hybrid_paper", dataset, "hybrid")
        baseline = _lookup("hybrid_paper", dataset, "diffstride")
        d_mean = _lookup("diffstride_paper", dataset, "diffstride", "mean")
        s_mean = _lookup("diffstride_paper", dataset, "spectral", "mean")
        matches = [name for name, value in (("DiffStride mean", d_mean),
                                            ("spectral-pooling mean", s_mean))
                   if abs(value - baseline) < 1e-9]
        readme = _lookup("official_readme", dataset, "diffstride", "(1,1,2,2,2)")
        rows.append(
            {
                "dataset": dataset,
                "hybrid (Hybrid paper)": hybrid,
                "baseline (Hybrid paper)": baseline,
                "DiffStride mean (DiffStride paper)": d_mean,
                "spectral mean (DiffStride paper)": s_mean,
                "baseline equals": " and ".join(matches) or "neither",
                "gain claimed": round(hybrid - baseline, 2),
                "gain over DiffStride mean": round(hybrid - d_mean, 2),
                "gain over spectral mean": round(hybrid - s_mean, 2),
                "DiffStride (official README, 1,1,2,2,2)": readme,
                "gain over official README DiffStride": round(hybrid - readme, 2),
            }
        )
    return pd.DataFrame(rows).set_index("dataset")


# What the papers say of their training, where this book's table of settings needs it.
# The DiffStride column is the official repository's current configuration (RECIPES
# "official"), the recipe behind the README's numbers; the Hybrid paper states little.
_PAPER_SETTINGS = {
    "DiffStride (official code)": {
        "data": "CIFAR-10, CIFAR-100 (50,000 training, 10,000 test images)",
        "input channels": "3 (colour)",
        "width (stem filters)": "64",
        "epochs": "400",
        "schedule": "step: 0.01 warm-up, 0.1, then ÷ 10 at steps 18,000 and 32,000",
        "augmentation": "none (crop and flip exist in the code, off in its config)",
        "mixup": "0.2",
        "complexity weight": "0 (the paper's regulariser is not in the code)",
        "learning-rate selection": "fixed by the recipe",
        "seeds": "3 runs per number (README)",
    },
    "Hybrid paper": {
        "data": "CIFAR-10, CIFAR-100",
        "input channels": "3 (colour)",
        "width (stem filters)": "not stated (ResNet-18: 64)",
        "epochs": "not stated",
        "schedule": "not stated",
        "augmentation": "not stated",
        "mixup": "not stated",
        "complexity weight": "not stated",
        "learning-rate selection": "tuned (procedure not stated)",
        "seeds": "not stated",
    },
}


# Input channels and printed names of the data sets (data.make_synthetic's default: 3).
_CHANNELS = {"cifar10": "3 (colour)", "cifar100": "3 (colour)", "fashion_mnist": "1 (grey)",
             "synthetic": "3 (colour)"}
_SCHEDULES = {"step": "step: 10 % warm-up, then ÷ 10 at half and ÷ 100 from two thirds of "
                      "the steps",
              "onecycle": "one cycle: 15 % linear warm-up, then linear decay to zero"}
_DATASET_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
                  "fashion_mnist": "Fashion-MNIST", "synthetic": "synthetic images"}


def settings_comparison(records: Sequence[dict], width64_parameters: int | None = None
                        ) -> pd.DataFrame:
    """This book's training settings, from its run records, beside the papers'.

    Args:
        records: run records of one profile; the book's column is read from them
            (several values are listed where runs differ).
        width64_parameters: the parameter count of the width-64 network on 3-channel,
            10-class input, for the papers' columns (computed by the caller; None leaves
            the row "not stated").

    Rows: data, input channels, width, parameters, epochs, schedule, augmentation,
    mixup, complexity weight, learning-rate selection, seeds.
    """
    if not records:
        raise ValueError("settings_comparison needs at least one run record")
    runs = runs_table(records)
    settings = [r["settings"] for r in records]

    def values(key, fmt=str):
        return ", ".join(fmt(v) for v in sorted({s[key] for s in settings}, key=str))

    seeds = runs.groupby("config").seed.nunique()

    def counts(column):
        return ", ".join(f"{int(v):,}" for v in sorted(runs[column].unique()))

    ours = {
        "data": f"{values('dataset', _DATASET_NAMES.get)} ({counts('train_size')} training, "
        f"{counts('test_size')} test images)",
        "input channels": values("dataset", lambda d: _CHANNELS[d]),
        "width (stem filters)": values("width"),
        "parameters": f"{int(runs.parameters.min()):,}"
        + (f" to {int(runs.parameters.max()):,}" if runs.parameters.nunique() > 1 else ""),
        "epochs": values("epochs"),
        "schedule": values("schedule", lambda v: _SCHEDULES.get(v, v)),
        "augmentation": "crop and flip" if any(s["augment"] for s in settings) else "none",
        "mixup": values("mixup"),
        "complexity weight": values("complexity_weight"),
        "learning-rate selection": (
            "per configuration, on the validation split"
            if all(s.get("validation") for s in settings) else "fixed per profile"),
        "seeds": ", ".join(str(n) for n in sorted(seeds.unique(), reverse=True))
        + " per configuration",
    }
    table = pd.DataFrame({"this book": ours, **_PAPER_SETTINGS})
    table.loc["parameters", "Hybrid paper"] = "not stated"
    table.loc["parameters", "DiffStride (official code)"] = (
        f"{width64_parameters:,} (width 64, counted here)" if width64_parameters
        else "not stated")
    table.index.name = "setting"
    return table.reindex(list(ours))
