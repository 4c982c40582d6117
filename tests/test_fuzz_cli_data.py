"""Random values at the command lines and the data readers.

Each one must either refuse cleanly (argparse's exit naming the flag, a ValueError naming
the file or the argument) or give a finite result of the right shape: never a traceback
from deep inside, never a value silently changed into another.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hybridlib import data, local_sweep, runs
from hybridlib.book import pipeline
from hybridlib.configs import PROFILES
from tests.records import valid_record

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# flag -> (kind, lowest value, whether the lowest value itself is allowed, highest value)
TRAIN_NUMBERS = {
    "--seed": (int, 0, True, local_sweep.SEED_MAX),
    "--epochs": (int, 1, True, None),
    "--batch-size": (int, 1, True, None),
    "--train-subset": (int, 1, True, None),
    "--test-subset": (int, 1, True, None),
    "--width": (int, 1, True, None),
    "--threads": (int, 1, True, None),
    "--lr": (float, 0, False, None),
    "--complexity-weight": (float, 0, True, None),
    "--mixup": (float, 0, True, None),
}

numbers_as_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(
        ["nan", "NaN", "inf", "-inf", "1e400", "-0", "0", "0.0", "1e-320", "0x10", "1_000",
         " 7 ", "", "3,1,3", "1/2", "true", "None", "\x00", "٣"]
    ),  # fmt: skip
    st.text(max_size=12),
)


def parse(parser, argv: list[str]):
    """``(namespace, None)`` or ``(None, (exit code, stderr))``."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            return parser.parse_args(argv), None
        except SystemExit as exit_:
            return None, (exit_.code, err.getvalue())


def in_range(value, kind, low, inclusive, high) -> bool:
    if kind is float and not (isinstance(value, float) and math.isfinite(value)):
        return False
    if kind is int and not isinstance(value, int):
        return False
    above = value >= low if inclusive else value > low
    return above and (high is None or value <= high)


@FUZZ
@given(flag=st.sampled_from(sorted(TRAIN_NUMBERS)), text=numbers_as_text)
def test_train_numeric_flags_are_in_range_or_refused_by_name(flag, text):
    args, refused = parse(local_sweep._parser(), [f"{flag}={text}"])
    if refused is not None:
        code, message = refused
        assert code == 2 and f"argument {flag}:" in message
        return
    value = getattr(args, flag[2:].replace("-", "_"))
    value = value[0] if isinstance(value, list) else value  # --seed is repeatable
    assert in_range(value, *TRAIN_NUMBERS[flag]), (flag, text, value)


@FUZZ
@given(
    argv=st.lists(
        st.tuples(
            st.sampled_from(
                [*TRAIN_NUMBERS, "--strides", "--device", "--profile", "--config", "--dataset"]
            ),
            numbers_as_text,
        ),
        max_size=4,
    )
)
def test_train_command_lines_parse_or_fail_cleanly(argv):
    args, refused = parse(local_sweep._parser(), [f"{flag}={text}" for flag, text in argv])
    if refused is not None:
        code, message = refused
        assert code == 2 and any(f"argument {flag}" in message for flag, _ in argv)
        return
    for flag, (kind, *bounds) in TRAIN_NUMBERS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        for v in value if isinstance(value, list) else [value]:
            assert v is None or in_range(v, kind, *bounds), (flag, v)
    if args.strides is not None:
        assert len(args.strides) == 3 and min(args.strides) >= 1


@FUZZ
@given(text=numbers_as_text)
def test_pipeline_cell_timeout_is_in_range_or_refused_by_name(text):
    args, refused = parse(pipeline.build_parser(PROFILES), [f"--cell-timeout={text}"])
    if refused is not None:
        code, message = refused
        assert code == 2 and "argument --cell-timeout:" in message
        return
    assert math.isfinite(args.cell_timeout) and args.cell_timeout >= 0


# --- idx files ----------------------------------------------------------------------------

IDX_TYPES = sorted(data._IDX_DTYPES)


def check_idx(buf: bytes) -> None:
    try:
        array = data.parse_idx(buf, "fuzz.idx")
    except ValueError as err:
        assert "fuzz.idx" in str(err)
        return
    ndim = buf[3]
    shape = tuple(int(s) for s in np.frombuffer(buf, ">u4", count=ndim, offset=4))
    assert array.shape == shape
    assert array.dtype == np.dtype(data._IDX_DTYPES[buf[2]]).newbyteorder("=")


@settings(max_examples=300, deadline=None)
@given(buf=st.binary(max_size=64))
def test_parse_idx_on_random_bytes(buf):
    check_idx(buf)


@settings(max_examples=300, deadline=None)
@given(
    zeros=st.sampled_from([b"\x00\x00", b"\x00\x01", b"\x01\x00"]),
    kind=st.one_of(st.sampled_from(IDX_TYPES), st.integers(0, 255)),
    shape=st.lists(st.one_of(st.integers(0, 5), st.integers(0, 2**32 - 1)), max_size=4),
    extra=st.integers(-8, 8),
)
def test_parse_idx_on_plausible_headers(zeros, kind, shape, extra):
    header = zeros + bytes([kind, len(shape)]) + np.array(shape, ">u4").tobytes()
    itemsize = np.dtype(data._IDX_DTYPES.get(kind, ">u1")).itemsize
    size = math.prod(shape) * itemsize
    payload = bytes(max(0, min(size + extra, 4096)))
    check_idx(header + payload)


def test_read_idx_names_a_damaged_file(tmp_path):
    for name, content in [("a.gz", b"\x1f\x8b garbage"), ("b", b"\x00\x00\x08\x02\x00")]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match=str(path)):
            data.read_idx(path)


# --- CIFAR batches --------------------------------------------------------------------------

PATH = Path("cifar-10-batches-py/data_batch_1")

int_or_float_dtypes = st.sampled_from(
    ["u1", "i1", "u2", "i2", "i4", "i8", "u8", "f4", "f8", "?"]
).map(np.dtype)
shapes = st.one_of(
    st.tuples(st.integers(0, 3), st.just(3072)), hnp.array_shapes(max_dims=3, max_side=4)
)
pixels = hnp.arrays(int_or_float_dtypes, shapes)
labels = st.one_of(
    st.lists(st.integers(-3, 12), max_size=4),
    st.lists(st.floats(allow_nan=True), max_size=4),
    st.lists(st.text(max_size=2), max_size=4),
    hnp.arrays(int_or_float_dtypes, hnp.array_shapes(max_dims=2, max_side=4)),
    st.none(),
    st.text(max_size=4),
)


@FUZZ
@given(rows=pixels, labels=labels, drop=st.sampled_from([None, "data", "labels"]))
def test_cifar_batch_checks_refuse_or_give_exact_arrays(rows, labels, drop):
    batch = {"data": rows, "labels": labels}
    if drop:
        del batch[drop]
    try:
        images, out_labels = data._check_cifar_batch(batch, PATH, "labels", 10)
    except ValueError as err:
        assert str(PATH) in str(err)
        return
    n = len(out_labels)
    assert images.shape == (n, 3, 32, 32) and images.dtype == np.uint8
    assert out_labels.dtype == np.int64
    assert n == 0 or 0 <= out_labels.min() <= out_labels.max() < 10
    # Nothing was wrapped around or truncated on the way.
    assert np.array_equal(images.reshape(n, 3072).astype(np.int64), np.asarray(rows, np.int64))
    assert np.array_equal(out_labels, np.asarray(labels).astype(np.int64))


@FUZZ
@given(
    n=st.integers(0, 3),
    low=st.sampled_from([-300, -1, 0]),
    high=st.sampled_from([255, 256, 1000]),
    seed=st.integers(0, 2**32 - 1),
    labels=st.lists(st.integers(-2, 12), max_size=3),
)
def test_cifar_pixel_and_label_ranges_are_checked(n, low, high, seed, labels):
    rows = np.random.default_rng(seed).integers(low, high + 1, size=(n, 3072))
    labels = (labels * 3)[:n] if labels else [0] * n
    pixels_ok = n == 0 or (rows.min() >= 0 and rows.max() <= 255)
    labels_ok = all(0 <= label < 10 for label in labels)
    try:
        images, out = data._check_cifar_batch({"data": rows, "labels": labels}, PATH, "labels", 10)
    except ValueError as err:
        assert not (pixels_ok and labels_ok) and str(PATH) in str(err)
        return
    assert pixels_ok and labels_ok
    assert np.array_equal(images.reshape(n, 3072), rows) and out.tolist() == labels


@settings(max_examples=200, deadline=None)
@given(
    content=st.one_of(
        st.binary(max_size=200),
        st.builds(
            lambda obj, cut: pickle.dumps(obj, protocol=2)[:cut],
            st.dictionaries(st.text(max_size=3), st.integers() | st.floats() | st.text(max_size=3)),
            st.integers(0, 100),
        ),
    )
)
def test_damaged_pickles_name_their_file(content, tmp_path_factory):
    path = tmp_path_factory.getbasetemp() / "data_batch_1"
    path.write_bytes(content)
    try:
        obj = data._load_pickle(path)
    except (ValueError, pickle.UnpicklingError) as err:
        assert str(path) in str(err)
        return
    assert isinstance(obj, dict)


# --- run records ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
RECORD_RUN = runs.declared_runs("smoke")[3]
RECORD = valid_record(RECORD_RUN)
RECORD_PATH = runs.record_path(RECORD_RUN, "/records")  # outside the repository


def locations(value, where=()):
    """Every place in a JSON value, as a path of keys and indices."""
    yield where
    if isinstance(value, dict):
        for key, child in value.items():
            yield from locations(child, (*where, key))
    elif isinstance(value, list):
        for i, child in enumerate(value[:3]):
            yield from locations(child, (*where, i))


def checked(record, path=RECORD_PATH) -> None:
    """Validation passes, or raises the named error only."""
    try:
        runs.validate_record(record, path)
    except runs.InvalidRecord as err:
        assert str(err).startswith(f"{path} is not a valid run record: "), str(err)
        assert err.reason


@FUZZ
@given(data=st.data())
def test_a_damaged_record_raises_only_the_named_validation_error(data):
    record = copy.deepcopy(RECORD)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(list(locations(record))[1:]))
        *parents, last = where
        target = record
        for key in parents:
            target = target[key]
        if data.draw(st.booleans()):
            target[last] = data.draw(json_values)
        elif isinstance(target, dict):
            del target[last]
        else:
            target.pop(last)
    checked(record)


@FUZZ
@given(record=json_values)
def test_any_json_is_a_record_or_the_named_validation_error(record):
    checked(record)


@settings(max_examples=100, deadline=None)
@given(content=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_file_is_a_record_or_the_named_validation_error(content, tmp_path_factory):
    path = tmp_path_factory.mktemp("r") / "seed0.json"
    path.write_bytes(content)
    try:
        runs.read_record(path)
    except runs.InvalidRecord as err:
        assert err.path == path and err.reason
