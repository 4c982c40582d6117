"""Is a trained spectral-pooling network a low-pass filter of its input?

Chapter 2 asks whether stacked spectral pooling amounts to low-pass filtering the input
once, at the start. On random filters the answer depends on where the activation sits:
after the pooling (``pool-act``, Rippel et al.'s order and the book's ResNet: convolution
-> pooling -> batch norm -> ReLU) the first crop is an exact low-pass of the filtered
input; before it (``act-pool``) the non-linearity lets high input frequencies into the
window. This module checks the same claims on *trained* filters: it trains a two-layer
spectral-pooling classifier in each order for a few hundred SGD steps and measures

* how much the output feature map changes when the input is low-passed to the first
  pooling window, and to the final one (the filter the question proposes);
* the test accuracy on the original and on the low-passed inputs;
* the share of the first layer's non-DC energy outside the first window, before and
  after the ReLU.

Every measurement runs in float64 on circular convolutions, so that "exact" means equal
to rounding error. Window sizes are odd (no Nyquist bin): for a ``32 x 32`` input the
network pools to ``15 x 15`` and then ``7 x 7``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from hybridlib.book.formatting import dataset_name, num, pct
from hybridlib.data import ImageDataset, iterate_batches
from hybridlib.spectral import spectral_pool2d

__all__ = [
    "CHANGED",
    "COLUMNS",
    "EXACT",
    "ORDERS",
    "TRAINING",
    "TwoLayerSpectralNet",
    "describe_trained",
    "lowpass",
    "lowpass_effects",
    "odd_sizes",
    "relative_difference",
    "share_outside",
    "train_two_layer",
    "trained_caption",
    "trained_lowpass_table",
    "trained_percent",
    "window_mask",
]

ORDERS = ("act-pool", "pool-act")

TRAINING = {
    "steps": 300,  # SGD steps: about two epochs of a 20000-image subset at batch 128
    "batch_size": 128,
    "lr": 0.05,  # constant rate; the network is small and batch-normalised
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "seed": 0,  # initial weights and batch order
}

# Column names of the table that trained_lowpass_table returns (one row per order).
COLUMNS = {
    "first": "first window: N(x) vs N(LP x)",
    "final": "final window: N(x) vs N(LP x)",
    "acc": "accuracy on x",
    "acc_first": "accuracy on first-window LP x",
    "acc_final": "accuracy on final-window LP x",
    "before": "layer 1, outside the window: before ReLU",
    "after": "layer 1, outside the window: after ReLU",
}


def odd_sizes(size: int, layers: int = 2) -> tuple[int, ...]:
    """Output sizes of successive poolings that about halve the map and stay odd.

    An odd window ``-(m-1)/2 .. (m-1)/2`` holds every kept frequency with its conjugate
    partner, so a crop to it is an exact low-pass (no Nyquist bin). ``32 -> (15, 7)``.
    """
    sizes, n = [], int(size)
    for _ in range(layers):
        m = n // 2 if (n // 2) % 2 else n // 2 - 1
        if m < 1:
            raise ValueError(f"a {size}-pixel map cannot be halved {layers} times to odd sizes")
        sizes.append(m)
        n = m
    return tuple(sizes)


def window_mask(size: int, m: int, device=None) -> torch.Tensor:
    """Bool ``[size, size]`` in FFT order: True on the frequencies ``|k|, |l| <= (m-1)/2``."""
    if m % 2 == 0 or not 1 <= m <= size:
        raise ValueError(f"the window must be odd and at most {size}, got {m}")
    freq = torch.fft.fftfreq(size, device=device) * size
    inside = freq.abs() <= (m - 1) // 2
    return inside[:, None] & inside[None, :]


def lowpass(x: torch.Tensor, m: int) -> torch.Tensor:
    """Keep only the frequencies of the centred odd ``m x m`` window, at the full size.

    Args:
        x: real ``[B, C, N, N]``.
        m: odd window size, at most ``N``.
    Returns:
        real ``[B, C, N, N]``: the inverse DFT of ``x``'s DFT times the window.
    """
    mask = window_mask(x.shape[-1], m, device=x.device)
    return torch.fft.ifft2(torch.fft.fft2(x) * mask).real.to(x.dtype)


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``||a - b|| / ||a - channel mean of a||`` per image.

    Measured against ``a``'s variation rather than its size: a post-ReLU map sits on a
    positive offset that would make every difference look small.

    Args:
        a, b: ``[B, C, H, W]``.
    Returns:
        ``[B]``.
    """
    centred = a - a.mean((-2, -1), keepdim=True)
    return (a - b).flatten(1).norm(dim=1) / centred.flatten(1).norm(dim=1)


def share_outside(v: torch.Tensor, m: int) -> torch.Tensor:
    """Share of each map's non-DC energy outside the centred odd window ``m``.

    Args:
        v: real ``[B, C, N, N]``.
    Returns:
        ``[B * C]``; NaN for a map without non-DC energy (a channel the ReLU silenced).
    """
    power = torch.fft.fft2(v).abs() ** 2
    power[..., 0, 0] = 0  # the mean is not a frequency any window could drop
    outside = (power * ~window_mask(v.shape[-1], m, device=v.device)).sum((-2, -1))
    total = power.sum((-2, -1))
    return torch.where(total > 0, outside / total, torch.nan).flatten()


class TwoLayerSpectralNet(nn.Module):
    """Two layers of 5x5 circular convolution, spectral pooling, batch norm and ReLU.

    ``pool-act``: conv -> pool -> BN -> ReLU (the book's ResNet order, Rippel's order);
    ``act-pool``: conv -> BN -> ReLU -> pool. Then a linear classifier of the flattened
    last map (global average pooling would leave a network this shallow too little to
    classify with). Circular padding makes each convolution exactly a product of DFTs, so a
    low-pass of the input is a low-pass of the convolution's output. The poolings
    preserve amplitudes (``rescale=True``), which keeps both orders on the same scale.

    Args:
        in_channels: channels of the input images.
        num_classes: outputs of the classifier.
        order: ``"pool-act"`` or ``"act-pool"``.
        sizes: the odd output size of each pooling, e.g. ``(15, 7)`` for 32x32 inputs.
        channels: output channels of each convolution.
        kernel_size: odd convolution size.
    Shapes:
        input ``[B, in_channels, N, N]``; :meth:`features` ``[B, channels[-1], m, m]``
        with ``m = sizes[-1]``; output ``[B, num_classes]``.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        order: str = "pool-act",
        sizes: Sequence[int] = (15, 7),
        channels: Sequence[int] = (8, 16),
        kernel_size: int = 5,
    ) -> None:
        super().__init__()
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        if len(sizes) != len(channels) or any(m % 2 == 0 for m in sizes):
            raise ValueError(f"need one odd size per layer, got sizes {sizes}, channels {channels}")
        self.order, self.sizes = order, tuple(int(m) for m in sizes)
        c_in = [in_channels, *channels[:-1]]
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, kernel_size, padding=kernel_size // 2, padding_mode="circular",
                      bias=False)
            for a, b in zip(c_in, channels)
        )  # fmt: skip
        self.norms = nn.ModuleList(nn.BatchNorm2d(c) for c in channels)
        self.fc = nn.Linear(channels[-1] * self.sizes[-1] ** 2, num_classes)

    def layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Layer ``i``: ``[B, C, N, N] -> [B, channels[i], sizes[i], sizes[i]]``."""
        z, m = self.convs[i](x), self.sizes[i]
        if self.order == "pool-act":
            return F.relu(self.norms[i](spectral_pool2d(z, output_size=m, rescale=True)))
        return spectral_pool2d(F.relu(self.norms[i](z)), output_size=m, rescale=True)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last layer's map ``N(x)``, ``[B, channels[-1], sizes[-1], sizes[-1]]``."""
        for i in range(len(self.convs)):
            x = self.layer(i, x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1))

    def extra_repr(self) -> str:
        return f"order={self.order!r}, sizes={self.sizes}"


def train_two_layer(
    data: ImageDataset,
    order: str,
    steps: int = TRAINING["steps"],
    batch_size: int = TRAINING["batch_size"],
    lr: float = TRAINING["lr"],
    momentum: float = TRAINING["momentum"],
    weight_decay: float = TRAINING["weight_decay"],
    seed: int = TRAINING["seed"],
) -> TwoLayerSpectralNet:
    """Train a :class:`TwoLayerSpectralNet` on ``data``'s training images with SGD.

    The images are square ``[N, C, S, S]`` uint8; the poolings go to ``odd_sizes(S)``.
    Batches come from :func:`hybridlib.data.iterate_batches` (shuffled, no augmentation),
    epoch after epoch until ``steps`` steps are done. The same ``seed`` gives the same
    initial weights and batch order for both orders, so the two networks differ only in
    where the activation sits.

    Returns:
        The trained network, in eval mode (batch norm uses its running statistics).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    size = data.image_size[0]
    torch.manual_seed(seed)
    model = TwoLayerSpectralNet(data.in_channels, data.num_classes, order, odd_sizes(size))
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                          weight_decay=weight_decay)  # fmt: skip
    model.train()
    done, epoch = 0, 0
    while done < steps:
        batches = iterate_batches(data.train_images, data.train_labels, batch_size,
                                  mean=data.mean, std=data.std, shuffle=True, seed=seed,
                                  epoch=epoch, drop_last=True)  # fmt: skip
        for x, y in batches:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            if done == steps:
                break
        epoch += 1
    return model.eval()


def _accuracy(net: TwoLayerSpectralNet, features: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of ``net``'s classifier on its last maps ``features`` ``[B, C, m, m]``."""
    return float((net.fc(features.flatten(1)).argmax(1) == y).double().mean())


@torch.no_grad()
def lowpass_effects(model: TwoLayerSpectralNet, x: torch.Tensor, y: torch.Tensor) -> dict:
    """What low-passing the input does to a network, measured in float64.

    Args:
        model: a (trained) network; it is copied, not changed.
        x: normalised test images ``[B, C, N, N]``.
        y: their labels ``[B]``.
    Returns:
        ``{COLUMNS[key]: value}``: the mean relative change of ``N(x)`` when ``x`` is
        low-passed to the first and to the final pooling window, the accuracy on ``x``
        and on both low-passed inputs, and the mean share of the first layer's non-DC
        energy outside the first window before and after its ReLU (on the full grid; in
        the pool-act order the ReLU acts on the pooled map, whose full-grid version is
        the low-passed convolution output). Batch norm at inference is a per-channel
        affine map, which changes no share of non-DC energy.
    """
    net = copy.deepcopy(model).double().eval()
    x = x.double()
    first, final = net.sizes[0], net.sizes[-1]
    features = net.features(x)
    out = {COLUMNS["acc"]: _accuracy(net, features, y)}
    for key, m in (("first", first), ("final", final)):
        features_lp = net.features(lowpass(x, m))
        out[COLUMNS[key]] = float(relative_difference(features, features_lp).mean())
        out[COLUMNS[f"acc_{key}"]] = _accuracy(net, features_lp, y)
    u = net.norms[0](net.convs[0](x))
    if net.order == "pool-act":
        u = lowpass(u, first)
    out[COLUMNS["before"]] = float(share_outside(u, first).nanmean())
    out[COLUMNS["after"]] = float(share_outside(F.relu(u), first).nanmean())
    return out


def trained_lowpass_table(
    data: ImageDataset,
    test_images: int | None = 2000,
    orders: Sequence[str] = ORDERS,
    threads: int | None = 1,
    **training,
) -> pd.DataFrame:
    """Train one network per order and measure :func:`lowpass_effects` on test images.

    Args:
        data: the data set (square images).
        test_images: how many of the first test images to measure on (``None``: all).
        orders: which orders to train.
        threads: torch's intra-op threads while training and measuring (restored after);
            ``None`` keeps the current setting. The layers are too small to gain from
            more than one, and on cores that other work keeps busy, threads waiting for
            each other cost many times the work (13 times, measured on two busy cores).
        training: overrides of :data:`TRAINING` for :func:`train_two_layer`.
    Returns:
        One row per order (index ``order``), the columns of :data:`COLUMNS`; the
        attribute ``attrs`` holds the sizes, the number of test images and the steps.
    """
    unknown = set(training) - set(TRAINING)
    if unknown:
        raise TypeError(f"unknown training settings {sorted(unknown)}; known: {sorted(TRAINING)}")
    settings = {**TRAINING, **training}
    n = len(data.test_labels) if test_images is None else min(test_images, len(data.test_labels))
    x, y = next(iterate_batches(data.test_images[:n], data.test_labels[:n], max(n, 1),
                                mean=data.mean, std=data.std))  # fmt: skip
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        rows = {o: lowpass_effects(train_two_layer(data, o, **settings), x, y) for o in orders}
    finally:
        torch.set_num_threads(previous)
    table = pd.DataFrame.from_dict(rows, orient="index")[list(COLUMNS.values())]
    table.index.name = "order"
    table.attrs = {
        "sizes": odd_sizes(data.image_size[0]),
        "image_size": data.image_size[0],
        "test_images": n,
        "steps": settings["steps"],
        "dataset": data.name,
    }
    return table


EXACT = 1e-9  # a relative change below this is rounding error in float64
CHANGED = 1e-3  # a relative change above this is a real change of the output


def trained_caption(table: pd.DataFrame) -> str:
    """The caption of :func:`trained_lowpass_table`'s table, from its ``attrs``."""
    a = table.attrs
    return (
        f"Two networks trained for {a['steps']} SGD steps on "
        f"{dataset_name(a['dataset'])}, measured on {a['test_images']} "
        f"test images"
    )


# The columns of trained_lowpass_table that are shares of a whole: the book prints them in %.
SHARES = ("acc", "acc_first", "acc_final", "before", "after")


def trained_percent(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`trained_lowpass_table`'s table as the book prints it: one column per order,
    the accuracies and the energy shares in % (their names say so), the relative changes
    as they are."""
    shown = table.copy()
    for key in SHARES:
        shown[COLUMNS[key]] = 100 * shown[COLUMNS[key]]
    shown = shown.rename(columns={COLUMNS[key]: f"{COLUMNS[key]} (%)" for key in SHARES})
    return shown.T


def _accuracy_change(before: float, after: float) -> str:
    """``"from 85.4 % to 74.1 %"``, or ``"unchanged at 85.4 %"`` when the two are equal."""
    if before == after:
        return f"unchanged at {pct(before)}"
    return f"from {pct(before)} to {pct(after)}"


def describe_trained(table: pd.DataFrame) -> str:
    """The verdict on the trained networks, in Markdown, from :func:`trained_lowpass_table`.

    Every number and every comparison word comes from ``table``: a claim that the
    measurement does not support is worded as not holding.
    """
    c = COLUMNS
    first, final = table.attrs["sizes"][0], table.attrs["sizes"][-1]
    half = lambda m: (m - 1) // 2  # noqa: E731
    pa, ap = table.loc["pool-act"], table.loc["act-pool"]
    if pa[c["first"]] < EXACT:
        same_accuracy = (
            f"its test accuracy is {pct(pa[c['acc']])} on both inputs"
            if pa[c["acc_first"]] == pa[c["acc"]]
            else f"yet its test accuracy moves from {pct(pa[c['acc']])} to "
            f"{pct(pa[c['acc_first']])}"
        )
        pool_act = (
            f"* **pool-act** (Rippel's order, the book's ResNet): low-passing the input "
            f"to the first window, |k|, |l| ≤ {half(first)}, leaves the trained "
            f"network's output unchanged to rounding error (relative change "
            f"{num(pa[c['first']], 2)}) and {same_accuracy}; the first crop is final."
        )
    else:
        pool_act = (
            f"* **pool-act**: low-passing the input to the first window changes the "
            f"output by {num(pa[c['first']], 2)}, more than rounding error: the first "
            f"crop is *not* an exact low-pass here."
        )
    if ap[c["first"]] > CHANGED:
        act_pool = (
            f"* **act-pool**: the same low-pass changes the output by "
            f"{num(ap[c['first']], 2)} (test accuracy "
            f"{_accuracy_change(ap[c['acc']], ap[c['acc_first']])}): through the ReLU, input "
            f"frequencies beyond the first window reach the output."
        )
    else:
        act_pool = (
            f"* **act-pool**: the same low-pass changes the output by only "
            f"{num(ap[c['first']], 2)}: the trained filters pass little beyond the first "
            f"window."
        )
    changed = [o for o in ORDERS if table.loc[o, c["final"]] > CHANGED]
    costs = all(table.loc[o, c["acc_final"]] < table.loc[o, c["acc"]] for o in changed)
    if len(changed) == len(ORDERS):
        verdict = (
            "Neither trained network is a function of the final-window blur of its "
            "input: both use frequencies that the last pooling drops"
            + (", and losing them costs accuracy." if costs else ".")
        )
    elif not changed:
        verdict = (
            "The change is below the measurement's resolution: on this data both "
            "trained networks behave like a classifier of the final-window blur."
        )
    else:
        (other,) = set(ORDERS) - set(changed)
        verdict = (
            f"The {changed[0]} network is not a function of the final-window blur of its "
            f"input; the {other} network's change is below the measurement's resolution."
        )
    final_line = (
        f"* **the final window**, |k|, |l| ≤ {half(final)} (the question's low-pass): the "
        f"output changes by {num(pa[c['final']], 2)} (pool-act) and {num(ap[c['final']], 2)} "
        f"(act-pool); the test accuracy goes "
        f"{_accuracy_change(pa[c['acc']], pa[c['acc_final']])} (pool-act) and "
        f"{_accuracy_change(ap[c['acc']], ap[c['acc_final']])} (act-pool). {verdict}"
    )
    return "\n".join((pool_act, act_pool, final_line))
