"""The training loop: optimiser, schedule, epoch, evaluation and :func:`fit`.

:func:`fit` trains one run (settings from ``hybridlib.runs.build_run``), or loads its
complete record, or resumes it. A checkpoint is written atomically after every epoch, so
a run killed at any moment continues from its last completed epoch and, on the CPU, ends
with exactly the metrics of an uninterrupted run: the batch order, the augmentation and
mixup draws are functions of (seed, epoch), never of the process's history, and a resumed
run uses the thread count its checkpoint was made with. Where files go is
``hybridlib.runs``'s job; many runs (a profile's sweep, the command line
``python -m hybridlib.train``) are ``hybridlib.local_sweep``'s.

A run whose loss or parameters become NaN or infinite stops with
:class:`TrainingDiverged`; it never writes a record, and its last good checkpoint stays.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from hybridlib import data as datasets
from hybridlib import layout
from hybridlib.resnet import PreActResNet, describe, resnet18
from hybridlib.runs import (
    CODE_HASH,
    PRECISIONS,
    RunStore,
    atomic_write,
    config_hash,
    encode_correct,
    encode_predictions,
    provenance,
    read_checkpoint,
    reusable_record,
    same_code,
    trunk_hash,
    write_json,
)

# The training step below is fingerprinted (hybridlib.codehash) as it was written, with
# these two names; the aliases keep that fingerprint, and so the records made by it.
from hybridlib.runs import FROM_SCRATCH as _FROM_SCRATCH  # noqa: E402,I001
from hybridlib.runs import warn as _warn  # noqa: E402

__all__ = [
    "TrainingDiverged",
    "autocast",
    "device_name",
    "evaluate",
    "fit",
    "learning_rate",
    "make_optimizer",
    "resolve_device",
    "wsd_trunk_epochs",
]


# The official step schedule: warm-up at 0.01, then 0.1, divided by 10 twice.
OFFICIAL_BOUNDARIES = (400, 18000, 32000)

OFFICIAL_VALUES = (0.01, 0.1, 0.01, 0.001)

# The step schedule: the rate is divided by 10 at these fractions of the steps.
STEP_DROPS = (1 / 2, 2 / 3)

# The first commit's schedule: the rate is divided by 10 at the start of these epochs.
FIRST_COMMIT_EPOCHS = (200, 300)

# The warmup-stable-decay schedule: a warm-up of a fixed length (the step schedule's 10 %
# of 6 epochs), a constant rate, and a linear decay to zero over the last sixth of the
# epochs. Its first steps do not depend on the budget, so every shorter budget's run
# shares the longer one's trunk up to where its own decay starts.
WSD_WARMUP_EPOCHS = 0.6

WSD_DECAY_SHARE = 6  # the decay is the last epochs // WSD_DECAY_SHARE epochs


# ---------------------------------------------------------------------- helpers
# The kinds of device a run trains on (torch knows others: meta, xpu, ...).
DEVICE_TYPES = ("cpu", "cuda", "mps")


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def device_name(text: str) -> str:
    """An argparse type: ``auto`` or a device name of a kind runs train on (whether this
    machine has it is checked before any work, by :func:`resolve_device`)."""
    if text != "auto":
        try:
            kind = torch.device(text).type
        except (RuntimeError, ValueError, TypeError):
            kind = None
        if kind not in DEVICE_TYPES:
            raise argparse.ArgumentTypeError(
                f"must be auto, cpu, cuda, cuda:<index> or mps, got {text!r}")
    return text


def resolve_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; another name must be a device of
    :data:`DEVICE_TYPES` that this machine has.

    Raises:
        ValueError: naming the device, and why it cannot be used here.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"device {name!r} is not a device name; valid: auto, cpu, cuda, "
                         "cuda:<index>, mps") from None
    if device.type not in DEVICE_TYPES:
        raise ValueError(f"device {name!r}: runs train on {', '.join(DEVICE_TYPES)} or auto, "
                         f"not {device.type}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device {name!r} requested but this machine has "
                         f"{torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not _mps_available():
        raise ValueError(f"device {name!r} requested but MPS is not available on this machine")
    if device.type == "cpu" and device.index not in (None, 0):
        raise ValueError(f"device {name!r}: there is one cpu device, cpu (or cpu:0)")
    return device


def learning_rate(step: int, total_steps: int, run: dict) -> float:
    """Learning rate at optimiser step ``step`` (0-based) of ``total_steps``.

    ``onecycle``: linear warm-up to ``lr`` over the first 15 % of the steps, then linear
    decay to zero. ``official``: the official repository's piecewise-constant schedule.
    ``first_commit``: ``lr`` divided by 10 at the start of epochs 200 and 300.
    ``step``: linear warm-up over the first 10 % of the steps, then ``lr``, divided by 10
    from half of the steps and by 100 from two thirds (the official schedule's shape,
    scaled to any length): the last third runs at a rate small enough that its epochs
    show whether training has reached a plateau. ``wsd`` (warmup-stable-decay): linear
    warm-up over :data:`WSD_WARMUP_EPOCHS` epochs, then ``lr`` until the last
    ``epochs // WSD_DECAY_SHARE`` epochs, which decay it linearly to zero
    (:func:`wsd_trunk_epochs`).
    """
    if run["schedule"] == "first_commit":
        epoch = step * run["epochs"] // total_steps
        return run["lr"] * 0.1 ** sum(epoch >= b for b in FIRST_COMMIT_EPOCHS)
    if run["schedule"] == "official":
        index = sum(step >= b for b in OFFICIAL_BOUNDARIES)
        return OFFICIAL_VALUES[index]
    if run["schedule"] == "onecycle":
        warmup = max(1, int(0.15 * total_steps))
        if step < warmup:
            return run["lr"] * (step + 1) / warmup
        return run["lr"] * max(0.0, (total_steps - step) / max(1, total_steps - warmup))
    if run["schedule"] == "step":
        warmup = max(1, int(0.1 * total_steps))
        if step < warmup:
            return run["lr"] * (step + 1) / warmup
        return run["lr"] * 0.1 ** sum(step >= f * total_steps for f in STEP_DROPS)
    if run["schedule"] == "wsd":
        steps_per_epoch = total_steps // run["epochs"]
        warmup = max(1, int(WSD_WARMUP_EPOCHS * steps_per_epoch))
        decay_from = wsd_trunk_epochs(run["epochs"]) * steps_per_epoch
        if step < warmup:
            return run["lr"] * (step + 1) / warmup
        if step < decay_from:
            return run["lr"]
        return run["lr"] * (total_steps - step) / (total_steps - decay_from)
    valid = "onecycle, step, wsd, official, first_commit"
    raise ValueError(f"unknown schedule {run['schedule']!r}; valid: {valid}")


def wsd_trunk_epochs(epochs: int) -> int:
    """The epochs of a ``wsd`` run of ``epochs`` before its decay starts (its trunk).

    A budget needs at least :data:`WSD_DECAY_SHARE` epochs, so that its decay has one.
    """
    if epochs < WSD_DECAY_SHARE:
        raise ValueError(
            f"the wsd schedule needs at least {WSD_DECAY_SHARE} epochs, got {epochs}"
        )
    return epochs - epochs // WSD_DECAY_SHARE


def make_optimizer(model: PreActResNet, run: dict) -> torch.optim.SGD:
    """SGD with weight decay on convolution and linear weights only (never BN or strides)."""
    strides = {id(p) for p in model.stride_parameters()}
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 and id(p) not in strides else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": run["weight_decay"]},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.SGD(groups, lr=run["lr"], momentum=run["momentum"])


@functools.lru_cache(maxsize=4)
def _load(dataset: str, train_subset: int | None, test_subset: int | None, validation=None):
    """The run's data and its validation split ``(images, labels)`` (None without one).

    Every configuration and seed of a profile sees the same split and subsets (drawn with
    seed 0); the training subset is drawn from what the validation split leaves.
    """
    data, held_out = datasets.load_dataset(dataset), None
    if validation is not None:
        data, held_out = data.hold_out(validation, seed=0)
    return data.subset(train=train_subset, test=test_subset, seed=0), held_out


# ---------------------------------------------------------------------- training
class TrainingDiverged(RuntimeError):
    """The loss or the parameters of a run became NaN or infinite.

    Nothing is recorded for the run and its last good checkpoint is kept; the message
    names the run, the epoch and the step.
    """


def _diverged(run: dict, epoch: int, step: int, steps: int, what: str) -> TrainingDiverged:
    """The error for a run that diverged at 0-based ``epoch`` and ``step`` (of ``steps``)."""
    # Epochs before this one all completed, so ``epoch`` is the last good checkpoint's.
    kept = f"no record was written and the checkpoint of epoch {epoch} is kept"
    return TrainingDiverged(
        f"training diverged: {run['config']} seed {run['seed']} on {run['dataset']} "
        f"(profile {run['profile']}): {what} at epoch {epoch + 1}, step {step + 1} of {steps}; "
        f"{kept if epoch else 'nothing was written'}. Lower the learning rate (--lr) and run "
        "again."
    )


def _step_values(loss: torch.Tensor, strides: Sequence[torch.Tensor]) -> list[float]:
    """The loss and every stride value, brought to the host in one transfer."""
    parts = [loss.detach().float().reshape(1), *(p.detach().float().reshape(-1) for p in strides)]
    return torch.cat(parts).tolist()


def _check_parameters(model: PreActResNet, run: dict, epoch: int, steps: int) -> None:
    """Raise :class:`TrainingDiverged` if a parameter or a buffer is NaN or infinite."""
    tensors = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
    finite = torch.stack([torch.isfinite(v).all() for v in tensors.values()]).tolist()
    bad = [name for name, ok in zip(tensors, finite, strict=True) if not ok]
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise _diverged(run, epoch, steps - 1, steps, f"{bad[0]}{more} became NaN or infinite")


def _mixup(x, y, alpha: float, rng: np.random.Generator):
    """Mix a batch with a shuffled copy of itself; returns inputs, both targets and lambda."""
    lam = float(rng.beta(alpha, alpha))
    perm = torch.from_numpy(rng.permutation(x.shape[0])).to(x.device)
    return lam * x + (1 - lam) * x[perm], y, y[perm], lam


@torch.no_grad()
def evaluate(
    model: PreActResNet,
    images,
    labels,
    mean,
    std,
    batch_size: int = 512,
    precision: str = "auto",
) -> dict:
    """Loss, accuracy and predicted classes ``[N]`` of ``model`` on ``images [N, C, H, W]``."""
    model.eval()
    loss_sum, correct, predicted = 0.0, 0, []
    for x, y in datasets.iterate_batches(images, labels, batch_size, mean=mean, std=std):
        with _autocast(x.device, precision):
            logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").item()
        predicted.append(logits.argmax(1))
        correct += (predicted[-1] == y).sum().item()
    n = len(labels)
    predictions = torch.cat(predicted).cpu() if predicted else torch.zeros(0, dtype=torch.int64)
    return {"loss": loss_sum / n, "acc": correct / n, "predictions": predictions}


def _autocast(device: torch.device, precision: str):
    """bfloat16 autocast for ``precision`` ``bf16``, or ``auto`` on CUDA; else none.

    The spectral layers leave autocast and compute in float32 whatever is chosen.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    enabled = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)

# The public name of the autocast a run's precision asks for (the fingerprinted step, above
# and below, calls it by its first name).
autocast = _autocast


def _train_epoch(model, optimizer, data, run, epoch, steps_per_epoch, progress) -> dict:
    device = data.train_images.device
    # Mixup draws depend on (seed, epoch) only, so a resumed run repeats them exactly.
    rng = np.random.default_rng([run["seed"], epoch])
    total_steps = run["epochs"] * steps_per_epoch
    batches = datasets.iterate_batches(
        data.train_images,
        data.train_labels,
        run["batch_size"],
        mean=data.mean,
        std=data.std,
        shuffle=True,
        augment=run["augment"],
        seed=run["seed"],
        epoch=epoch,
        drop_last=True,
    )
    bar = tqdm(
        batches,
        total=steps_per_epoch,
        desc=f"{run['config']} s{run['seed']} epoch {epoch + 1}/{run['epochs']}",
        disable=not progress,
        leave=False,
        dynamic_ncols=True,
    )
    model.train()
    strides = model.stride_parameters()
    loss_sum, correct, seen, start = 0.0, 0.0, 0, time.perf_counter()
    for step, (x, y) in enumerate(bar):
        lr = learning_rate(epoch * steps_per_epoch + step, total_steps, run)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if run.get("layout") == "channels_last":
            x = x.contiguous(memory_format=torch.channels_last)
        with _autocast(device, run["precision"]):
            if run["mixup"] > 0:
                x, y_a, y_b, lam = _mixup(x, y, run["mixup"], rng)
                logits = model(x)
                loss = lam * F.cross_entropy(
                    logits.float(), y_a, label_smoothing=run["label_smoothing"]
                ) + (1 - lam) * F.cross_entropy(
                    logits.float(), y_b, label_smoothing=run["label_smoothing"]
                )
            else:
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=run["label_smoothing"])
            if run["complexity_weight"] > 0:
                loss = loss + run["complexity_weight"] * model.complexity().to(loss.device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        # The loss comes to the host anyway; the strides travel with it, since the next
        # forward computes its sizes from them and would fail on a NaN with an unrelated error.
        values = _step_values(loss, strides)
        if not math.isfinite(values[0]):
            raise _diverged(run, epoch, step, steps_per_epoch, f"the loss is {values[0]}")
        if not all(map(math.isfinite, values)):
            what = "a DiffStride stride became NaN or infinite"
            raise _diverged(run, epoch, step, steps_per_epoch, what)
        loss_sum += values[0] * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
        rate = seen / (time.perf_counter() - start)
        bar.set_postfix(
            loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", img_s=f"{rate:.0f}"
        )
    seconds = time.perf_counter() - start
    return {
        "train_loss": loss_sum / seen,
        "train_acc": correct / seen,
        "lr_last": lr,
        "train_seconds": seconds,
        "images_per_s": seen / seconds,
    }


@contextmanager
def _thread_count(run: dict, state: dict | None, ckpt_path: Path) -> Iterator[int]:
    """Run the block with the run's intra-op thread count, then restore the previous one.

    Sums are split differently per thread count, so a resumed run uses the count its
    checkpoint was made with: only then does it end as an uninterrupted run would.
    """
    previous = torch.get_num_threads()
    threads = run.get("threads") or previous
    recorded = state.get("threads") if state is not None else None
    if isinstance(recorded, int) and recorded > 0 and recorded != threads:
        print(
            f"note: resuming with {recorded} threads, the count {ckpt_path} was made with "
            f"(not {threads}), so that the run ends exactly as an uninterrupted one",
            file=sys.stderr,
        )
        threads = recorded
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(previous)


# ---------------------------------------------------------------------- fit
def fit(
    run: dict,
    store: RunStore | None = None,
    force: bool = False,
    since: float | None = None,
    progress: bool = True,
    accept_code: bool = False,
) -> dict:
    """Train (or load, or resume) the run described by ``run`` and return its record.

    Args:
        run: settings from ``hybridlib.runs.build_run``.
        store: where the record and the checkpoint go (default: ``RunStore()``, the
            folders of ``hybridlib.paths``).
        force: train the run from scratch, whatever is on disk.
        since: a UNIX time: only records and checkpoints written at or after it are
            reused (a forced sweep's start, see ``hybridlib.local_sweep.forced_sweep``).
        progress: show a progress bar per epoch.
        accept_code: reuse a record (or resume a checkpoint) made by other code than
            this (another ``CODE_HASH``); by default such a run is trained again, with a
            note saying why.

    Raises:
        TrainingDiverged: if the loss or the parameters become NaN or infinite; no record
            is written and the checkpoint of the last good epoch is kept.
    """
    store = store or RunStore()
    not_before = time.time() if force else since
    digest = config_hash(run)
    path, ckpt_path = store.record_path(run), store.checkpoint_path(run)
    record = reusable_record(path, digest, not_before)
    if record is not None and same_code(record.get("code_hash"), path, accept_code):
        return record
    device = resolve_device(run["device"])
    state = read_checkpoint(ckpt_path, device, digest, not_before)
    if state is not None and not same_code(state.get("code_hash"), ckpt_path, accept_code):
        state = None
    trunks, from_trunk = {}, None
    if run["schedule"] == "wsd":
        # A shorter budget starts from the trunk a longer run of the same settings left.
        start = store.trunk_path(run, wsd_trunk_epochs(run["epochs"]))
        if state is None:
            state = read_checkpoint(start, device, trunk_hash(run), not_before)
            if state is not None and not same_code(state.get("code_hash"), start, accept_code):
                state = None
            if state is not None:
                from_trunk = {"epochs": len(state["history"]), "seconds": state["elapsed"]}
        trunks = {wsd_trunk_epochs(b): store.trunk_path(run, wsd_trunk_epochs(b))
                  for b in run.get("branches") or () if b < run["epochs"]}
    # The fastest memory layout measured for this width (recorded, outside the hash); a
    # resumed run keeps its checkpoint's, so that it ends as an uninterrupted one would.
    chosen = run.get("layout")
    if state is not None:
        # Checkpoints older than layouts ran channels_last on CUDA and contiguous elsewhere.
        chosen = state.get("layout") or ("channels_last" if device.type == "cuda"
                                         else "contiguous")
    threads = run.get("threads") or torch.get_num_threads()
    run = {**run, "layout": layout.resolve(chosen, device.type, run["width"], run["precision"],
                                           threads)}
    with _thread_count(run, state, ckpt_path):
        record = _train(run, digest, device, state, ckpt_path, path.parent.name, progress,
                        trunks)
    if from_trunk is not None:
        # Its first epochs were computed once, by the longer run: say so, for the bill.
        record["from_trunk"] = from_trunk
    write_json(path, record)
    return record


def _new_model(run: dict, data, device: torch.device):
    """The run's freshly initialised network (seeded by the run's seed) and its optimiser."""
    torch.manual_seed(run["seed"])
    model = resnet18(
        run["spec"], num_classes=data.num_classes, in_channels=data.in_channels, width=run["width"]
    ).to(device)
    if run.get("layout") == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    return model, make_optimizer(model, run)


def _train(
    run: dict,
    digest: str,
    device: torch.device,
    state: dict | None,
    ckpt_path: Path,
    label: str,
    progress: bool,
    trunks: dict[int, Path] | None = None,
) -> dict:
    """Train from ``state`` (a checkpoint, or None) to the last epoch; return the record.

    ``trunks`` maps an epoch to the file where the state after it is also kept, with the
    run's :func:`trunk_hash`: the start of a shorter ``wsd`` budget.
    """
    subsets = (run["train_subset"], run["test_subset"], run["validation"])
    data, held_out = _load(run["dataset"], *subsets)
    data = data.to(device)
    held_out = None if held_out is None else tuple(t.to(device) for t in held_out)
    model, optimizer = _new_model(run, data, device)
    input_size = (data.in_channels, *data.image_size)
    initial = describe(model, input_size)
    history, elapsed, predictions, correct = [], 0.0, None, None
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            history, elapsed = state["history"], float(state["elapsed"])
            predictions, correct = state.get("test_predictions"), state.get("test_correct")
        except (RuntimeError, KeyError, ValueError, TypeError) as err:
            lines = str(err).strip().splitlines() or [""]
            _warn(f"{ckpt_path} does not fit this network ({lines[0]}). {_FROM_SCRATCH}")
            model, optimizer = _new_model(run, data, device)  # a load may stop half-way
            history, elapsed, predictions, correct = [], 0.0, None, None
    step_model = torch.compile(model) if run["compile"] and device.type == "cuda" else model
    steps_per_epoch = datasets.num_batches(len(data.train_labels), run["batch_size"], True)
    if steps_per_epoch == 0:
        raise ValueError(
            f"batch_size {run['batch_size']} is larger than the training set "
            f"({len(data.train_labels)} images)"
        )

    for epoch in range(len(history), run["epochs"]):
        start = time.perf_counter()
        stats = _train_epoch(step_model, optimizer, data, run, epoch, steps_per_epoch, progress)
        _check_parameters(model, run, epoch, steps_per_epoch)
        # With a validation split the test set is read once, after the last epoch: what
        # is chosen while training (learning rate, epochs) sees the validation split only.
        scores = {}
        if held_out is not None:
            val = evaluate(step_model, *held_out, data.mean, data.std, precision=run["precision"])
            scores.update(val_loss=val["loss"], val_acc=val["acc"])
        if held_out is None or epoch == run["epochs"] - 1:
            test = evaluate(
                step_model,
                data.test_images,
                data.test_labels,
                data.mean,
                data.std,
                precision=run["precision"],
            )
            scores.update(test_loss=test["loss"], test_acc=test["acc"])
            predictions = encode_predictions(test["predictions"])
            correct = encode_correct(test["predictions"] == data.test_labels.cpu())
        for split in ("val", "test"):
            if not math.isfinite(scores.get(f"{split}_loss", 0.0)):
                what = f"the {split} loss is {scores[f'{split}_loss']}"
                raise _diverged(run, epoch, steps_per_epoch - 1, steps_per_epoch, what)
        shape = describe(model, input_size)
        elapsed += time.perf_counter() - start
        history.append(
            {
                "epoch": epoch + 1,
                **stats,
                **scores,
                "learned_strides": model.learned_strides(),
                "feature_sizes": shape["sizes"],
                "flops": shape["flops"],
            }
        )
        checkpoint = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "history": history,
            "elapsed": elapsed,
            "config_hash": digest,
            "threads": torch.get_num_threads(),
            "layout": run["layout"],
            "code_hash": CODE_HASH,
            "test_predictions": predictions,
            "test_correct": correct,
        }
        atomic_write(ckpt_path, lambda p, s=checkpoint: torch.save(s, p))
        if (trunks or {}).get(epoch + 1):
            trunk = {**checkpoint, "config_hash": trunk_hash(run)}
            atomic_write(trunks[epoch + 1], lambda p, s=trunk: torch.save(s, p))
        accuracies = "".join(f"{k.replace('_', ' ')} {v:.4f}, " for k, v in scores.items()
                             if k.endswith("acc"))
        tqdm.write(
            f"{label} seed {run['seed']} epoch {epoch + 1}: train acc {stats['train_acc']:.4f}, "
            f"{accuracies}{stats['images_per_s']:.0f} img/s",
            file=sys.stderr,
        )

    return make_record(run, digest, device, history, initial, predictions, correct, elapsed,
                       data)


def make_record(
    run: dict,
    digest: str,
    device: torch.device,
    history: list[dict],
    initial: dict,
    predictions: str,
    correct: str,
    elapsed: float,
    data,
) -> dict:
    """The record of a finished run: its settings, its history and its final numbers.

    It only arranges what :func:`_train` computed, so it stays outside the code
    fingerprint: how a record is laid out does not change what a run computes.
    """
    final = history[-1]
    return {
        "settings": run,
        "config_hash": digest,
        "code_hash": CODE_HASH,
        "complete": True,
        "description": run["spec"]["description"],
        "final_test_acc": final["test_acc"],
        "final_test_loss": final["test_loss"],
        "final_val_acc": final.get("val_acc"),
        # Predicted class of every test image, in the test set's order, and whether it is
        # right (base64; decode_predictions and decode_correct read them): the per-image
        # paired tests need no data set.
        "test_predictions": predictions,
        "test_correct": correct,
        "learned_strides": final["learned_strides"],
        "feature_sizes": final["feature_sizes"],
        "initial_feature_sizes": initial["sizes"],
        "parameters": initial["parameters"],
        "flops": final["flops"],
        "wall_seconds": elapsed,
        "images_per_s": sum(e["images_per_s"] for e in history) / len(history),
        "train_size": len(data.train_labels),
        "test_size": len(data.test_labels),
        "epochs": history,
        "provenance": provenance(device),
    }


if __name__ == "__main__":  # python -m hybridlib.train: the command line of many runs
    from hybridlib.local_sweep import main

    sys.exit(main())
