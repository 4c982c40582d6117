"""Chapter 4's grid of configurations: one cell per configuration and position."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hybridlib.book.architectures import cost_model  # noqa: E402
from hybridlib.book.diagram import KIND_COLOURS, POSITIONS, configuration_diagram  # noqa: E402
from hybridlib.configs import CONFIGS  # noqa: E402


def test_each_cell_names_the_stride_and_the_sizes_in_and_out():
    names = ("strided", "hybrid", "hybrid_at_gap")
    configs = {n: CONFIGS[n] for n in names}
    sizes = {n: cost_model(CONFIGS[n]).sizes for n in names}
    fig = configuration_diagram(configs, sizes, split_before="hybrid")
    (ax,) = fig.axes
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == len(names) * len(POSITIONS)
    strided, hybrid, at_gap = (texts[i * len(POSITIONS):(i + 1) * len(POSITIONS)]
                               for i in range(len(names)))
    assert strided[:2] == ["plain conv\n32×32", "S=2\n32×32\n→ 16×16"]
    assert strided[4:] == ["—", "—"]
    assert hybrid[4] == f"S=2\n{sizes['hybrid']['stage4'][0]}×{sizes['hybrid']['stage4'][1]}" \
        f"\n→ {sizes['hybrid']['head'][0]}×{sizes['hybrid']['head'][1]}"
    assert at_gap[4] == "—" and at_gap[5].startswith("S=2\n")
    colours = [p.get_facecolor() for p in ax.patches]
    assert matplotlib.colors.to_hex(colours[len(POSITIONS) + 4]) == KIND_COLOURS["spectral"]
    assert [line.get_ydata()[0] for line in ax.get_lines()] == [1]  # the split, above hybrid
    plt.close(fig)
