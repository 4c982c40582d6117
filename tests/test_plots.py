"""Figure helpers: what they draw, read back from the Matplotlib artists."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from hybridlib.book import plots  # noqa: E402
from hybridlib.book.plots import (  # noqa: E402
    label_points,
    paired_differences_figure,
    plot_paired_differences,
)

NAN = math.nan


def comparisons():
    return pd.DataFrame(
        [
            {"a": "hybrid", "b": "diffstride", "seed_diff": 0.2, "seed_low": -1.8,
             "seed_high": 2.2, "crossed_diff": 0.2, "crossed_low": -0.1, "crossed_high": 0.5},
            {"a": "spectral", "b": "strided", "seed_diff": NAN, "seed_low": NAN,
             "seed_high": NAN, "crossed_diff": -2.0, "crossed_low": -2.4, "crossed_high": -1.6},
        ]
    )


def test_each_comparison_is_a_row_with_its_intervals_around_zero():
    fig, ax = plt.subplots()
    plot_paired_differences(ax, comparisons())
    by_label = {c.get_label(): c for c in ax.containers}
    seed, image = by_label["by seed"], by_label["seed × image"]
    assert seed.lines[0].get_xydata().tolist() == [[0.2, 0.0]]  # no interval for row 2
    assert np.allclose(image.lines[0].get_xydata(), [[0.2, -0.25], [-2.0, -1.25]])
    (bars,) = image.lines[2]
    assert np.allclose(bars.get_segments()[1][:, 0], [-2.4, -1.6])
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "hybrid \u2212 diffstride", "spectral \u2212 strided"]
    assert any(line.get_xdata()[0] == 0 for line in ax.get_lines())  # the zero line
    plt.close(fig)


def test_labels_must_match_the_comparisons():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="one entry per comparison \\(2\\), got 1"):
        plot_paired_differences(ax, comparisons(), labels=["only one"])
    plt.close(fig)


def test_the_figure_has_one_panel_per_data_set():
    table = pd.concat([comparisons().assign(dataset=d) for d in ("cifar10", "cifar100")])
    fig = paired_differences_figure(table, name=str.upper, title="profile paper: ")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["profile paper: CIFAR10", "profile paper: CIFAR100"]
    assert all(len(ax.get_yticks()) == 2 for ax in fig.axes)
    plt.close(fig)


def test_labels_of_crowded_points_do_not_overlap_and_stay_inside_the_axes():
    fig, ax = plt.subplots(figsize=(4.5, 4))
    xs = [20, 60, 65, 70, 100, 105, 110, 500]
    ys = [92.0, 91.45, 91.46, 91.2, 91.15, 90.95, 91.6, 90.0]
    names = ["strided", "spectral_stage2", "diffstride_late", "spectral_stage4", "hybrid",
             "diffstride", "hybrid_at_gap", "hybrid_stem_at_the_right_edge"]
    ax.scatter(xs, ys)
    ax.set_xscale("log")
    texts = label_points(ax, xs, ys, names, ["black"] * len(xs))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in texts]
    assert sorted(t.get_text() for t in texts) == sorted(names)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert all(ax.bbox.x0 <= b.x0 and b.x1 <= ax.bbox.x1 for b in boxes)
    assert texts[0].get_text() == "hybrid_stem_at_the_right_edge"  # lowest first, ...
    assert texts[0].get_horizontalalignment() == "right"  # ... and left of its point
    plt.close(fig)


def test_the_budget_figure_draws_every_seed_and_each_mean_with_its_interval():
    from hybridlib.book.plots import budget_figure

    table = pd.DataFrame([
        {"config": c, "budget": b, "n": 3, "mean": 90 + i + b / 10, "low": 89 + i + b / 10,
         "high": 91 + i + b / 10} for i, c in enumerate(("strided", "hybrid")) for b in (6, 18)])
    seeds = pd.DataFrame([{"config": r.config, "budget": r.budget, "test_acc": r.mean + d}
                          for r in table.itertuples() for d in (-0.5, 0.0, 0.5)])
    fig = budget_figure(table, seeds)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["6 epochs", "18 epochs"]
    assert sum(len(c.get_offsets()) for c in ax.collections if hasattr(c, "get_offsets")
               and len(c.get_offsets()) == 6) == 12  # 2 configurations x 2 budgets x 3 seeds
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["strided", "hybrid"]
    plt.close(fig)


def _records_tables():
    from hybridlib.results import curves_table, strides_table
    from hybridlib.runs import RunStore

    records = RunStore().load("cpu", accept_code=True)
    return curves_table(records), strides_table(records)


def test_the_results_chapter_s_curves_and_strides_figures_draw_every_configuration():
    import matplotlib

    matplotlib.use("Agg")
    curves, strides = _records_tables()
    colours = {c: f"C{i}" for i, c in enumerate(dict.fromkeys(curves.config))}
    fig = plots.curves_figure(curves, colours, "cpu")
    assert plots.curve_score(curves) == ("val_acc", "validation accuracy")
    drawn = {line.get_label() for ax in fig.axes for line in ax.get_lines()}
    assert set(colours) <= drawn
    assert fig.get_size_inches()[0] <= plots.MAX_WIDTH
    figures = plots.strides_figures(strides, list(colours), "cpu")
    assert len(figures) == strides.dataset.nunique()
    rows = {ax.get_ylabel() for ax in figures[0].axes if ax.get_ylabel()}
    assert rows == set(strides.config)  # one row per configuration with DiffStride layers
    assert plots.stride_positions(strides)[0] in {"stem", "stage2"}


def test_the_legend_of_the_paired_figure_sits_below_the_panels():
    table = pd.concat([comparisons().assign(dataset=d) for d in ("cifar10", "cifar100")])
    fig = paired_differences_figure(table)
    assert all(ax.get_legend() is None for ax in fig.axes)  # none over an interval
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["by seed", "seed × image"]
    plt.close(fig)
    nothing = comparisons().assign(dataset="d")
    for column in nothing.columns[2:]:
        nothing[column] = NAN
    assert paired_differences_figure(nothing).legends == []  # no interval, no legend
    plt.close("all")


def test_the_grid_figure_draws_a_line_per_configuration_and_rings_the_chosen_rate():
    grid = pd.DataFrame([{"config": c, "lr": lr, "val_acc": acc}
                         for c, accs in (("strided", (80, 85, 84)), ("hybrid", (82, 81, NAN)),
                                         ("hybrid_stem", (70, 75, 74)))
                         for lr, acc in zip((0.1, 0.2, 0.4), accs)])
    colours = plots.config_colours(["strided", "hybrid", "hybrid_stem"])
    fig = plots.grid_figure(grid, colours, {"strided": 0.2, "hybrid_stem": 0.2})
    left, right = fig.axes
    assert [line.get_label() for line in left.get_lines()] == ["strided", "hybrid"]
    assert len(left.get_lines()[1].get_xdata()) == 2  # the missing run is left out
    rings = [c.get_offsets().tolist() for ax in fig.axes for c in ax.collections]
    assert rings == [[[0.2, 85.0]], [[0.2, 75.0]]]
    plt.close(fig)
    empty = plots.grid_figure(grid.iloc[:0], colours, {})
    assert "no learning-rate grid" in empty.axes[0].texts[0].get_text()
    plt.close(empty)


def test_the_key_pair_has_two_distinct_colours_everywhere():
    import matplotlib.colors as mcolors

    many = plots.config_colours(["strided", "spectral", "diffstride", "hybrid",
                                 *(f"other{k}" for k in range(12))])
    hybrid, diffstride = (np.array(mcolors.to_rgb(many[c])) for c in ("hybrid", "diffstride"))
    assert np.abs(hybrid - diffstride).sum() > 0.8  # green against orange, not two oranges
    assert many["hybrid"] == plots.BUDGET_STYLE["hybrid"]["color"]  # the same in chapter 7
    assert len(set(many.values())) >= 14


def test_every_figure_of_the_results_chapter_fits_the_text_column():
    """Drawn with the published records, no figure's tight box (what IPython saves) is
    wider than the column: its 9-pt text then shows at 9 pt or more (the browser check
    measures the same on the built pages)."""
    from hybridlib import evidence, results
    from hybridlib.book.architectures import cost_model
    from hybridlib.book.diagram import configuration_diagram
    from hybridlib.configs import ABLATION, CONFIGS, PROFILES
    from hybridlib.runs import RunStore
    from hybridlib.tuning import chosen_rates, grid_table

    records = RunStore().load("cpu", accept_code=True)
    runs = results.runs_table(records)
    summary, intervals = results.summary_table(runs), evidence.interval_table(records)
    colours = plots.config_colours(summary.config.unique())
    grid = grid_table("cpu")
    figures = {
        "curves": plots.curves_figure(results.curves_table(records), colours, "cpu"),
        "headline": plots.headline_figure(intervals, runs, colours, "fashion_mnist", "t"),
        "paired": plots.paired_differences_figure(
            evidence.comparison_table(records, evidence.HYBRID_COMPARISONS)),
        "cost": plots.cost_figure(summary, intervals, colours, "fashion_mnist",
                                  ("Fashion-MNIST, profile cpu: accuracy vs counted cost",
                                   "accuracy vs measured speed (cpu (x86_64))")),
        "grid": plots.grid_figure(grid, plots.config_colours(PROFILES["cpu"]["configs"]),
                                  chosen_rates(grid)),
        "strides": plots.strides_figures(results.strides_table(records), list(colours),
                                         "cpu")[0],
        "diagram": configuration_diagram(
            CONFIGS, {n: cost_model(s).sizes for n, s in CONFIGS.items()},
            split_before=ABLATION[0]),
    }
    column = 672 / plots.DPI  # inches: the text column at a 1280-pixel window
    for name, fig in figures.items():
        fig.canvas.draw()
        width = fig.get_tightbbox(fig.canvas.get_renderer()).width
        assert width <= column, f"{name}: {width:.2f} in, the column {column:.2f} in"
    plt.close("all")
