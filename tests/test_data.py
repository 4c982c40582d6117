"""Tests of hybridlib.data: loaders on files the tests write, the Debian Fashion-MNIST,
the synthetic set, subsets and the on-device batch iterator."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from hybridlib import data

OFFICIAL_SPECS = dict(data.CIFAR_SPECS)

# ----------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def tiny_cifar(monkeypatch):
    """The image counts of the tiny CIFAR folders these tests write, in place of 50000/10000."""
    for variant, train_size in (("cifar10", 10), ("cifar100", 2)):
        spec = dataclasses.replace(data.CIFAR_SPECS[variant], train_size=train_size, test_size=3)
        monkeypatch.setitem(data.CIFAR_SPECS, variant, spec)


def no_network(*args, **kwargs):
    raise AssertionError(f"the network must not be touched: download_url{args}")


def offline(url, dest):
    raise urllib.error.URLError("no network in this test")


def cifar_rows(n: int, seed: int) -> np.ndarray:
    """``n`` CIFAR rows of 3072 uint8 with known values."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)


def write_pickle(path: Path, obj) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)  # the official archives are Python 2 pickles


def write_cifar_folder(folder: Path, variant: str) -> dict:
    """Write a tiny CIFAR folder in the official layout; return what it contains."""
    folder.mkdir(parents=True)
    spec = data.CIFAR_SPECS[variant]
    num_classes = 10 if variant == "cifar10" else 100
    names = [f"{variant}-class-{i}" for i in range(num_classes)]
    train_rows, train_labels = [], []
    for i, name in enumerate(spec.train_files):
        rows = cifar_rows(2, seed=i)
        labels = [(3 * i + j) % num_classes for j in range(2)]
        batch = {"batch_label": name, "data": rows, spec.label_key: labels}
        if variant == "cifar100":
            # CIFAR-100's dicts also hold coarse labels; bytes keys are what a pickle
            # written by Python 2 gives when it is read without latin1 decoding.
            batch = {k.encode(): v for k, v in batch.items()} | {b"coarse_labels": [0, 0]}
        write_pickle(folder / name, batch)
        train_rows.append(rows)
        train_labels += labels
    test_rows = cifar_rows(3, seed=99)
    test_labels = [num_classes - 1, 0, 5]
    write_pickle(folder / spec.test_files[0], {"data": test_rows, spec.label_key: test_labels})
    write_pickle(folder / spec.meta_file, {spec.names_key: names, "num_cases_per_batch": 2})
    return {
        "train_rows": np.concatenate(train_rows),
        "train_labels": train_labels,
        "test_rows": test_rows,
        "test_labels": test_labels,
        "names": names,
    }


def write_archive(archive: Path, variant: str) -> dict:
    """Write a tiny official-format .tar.gz at ``archive``; return its content."""
    staging = archive.parent / f"staging-{variant}"
    folder_name = data.CIFAR_SPECS[variant].folder
    content = write_cifar_folder(staging / folder_name, variant)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(staging / folder_name, arcname=folder_name)
    return content


@pytest.fixture
def cifar_source(tmp_path, monkeypatch):
    """Tiny archives served from ``file://`` URLs with their md5 patched in."""

    def make(variant: str):
        archive = tmp_path / "server" / data.CIFAR_SPECS[variant].archive
        archive.parent.mkdir(exist_ok=True)
        content = write_archive(archive, variant)
        md5 = data.file_md5(archive)
        spec = dataclasses.replace(data.CIFAR_SPECS[variant], url=archive.as_uri(), md5=md5)
        monkeypatch.setitem(data.CIFAR_SPECS, variant, spec)
        return archive, content

    return make


def check_cifar(ds: data.ImageDataset, variant: str, content: dict) -> None:
    n_train, n_test = len(content["train_labels"]), len(content["test_labels"])
    assert ds.name == variant
    assert ds.train_images.shape == (n_train, 3, 32, 32) and ds.train_images.dtype == torch.uint8
    assert ds.test_images.shape == (n_test, 3, 32, 32)
    assert ds.train_labels.dtype == torch.int64
    assert ds.train_labels.tolist() == content["train_labels"]
    assert ds.test_labels.tolist() == content["test_labels"]
    assert ds.classes == tuple(content["names"])
    assert ds.num_classes == len(content["names"]) and ds.in_channels == 3
    assert ds.image_size == (32, 32)
    assert (ds.mean, ds.std) == data.CIFAR_NORM
    # A row is R, G, B planes of 32x32, row-major: pixel (y=5, x=7) of the green plane of
    # the first test image is byte 1024 + 5 * 32 + 7 of its row.
    assert ds.test_images[0, 1, 5, 7] == content["test_rows"][0, 1024 + 5 * 32 + 7]
    assert ds.test_images[2, 2, 31, 0] == content["test_rows"][2, 2048 + 31 * 32]
    expected = torch.from_numpy(content["train_rows"]).view(-1, 3, 32, 32)
    assert torch.equal(ds.train_images, expected)


# ----------------------------------------------------------------------------- CIFAR


@pytest.mark.parametrize("variant", ["cifar10", "cifar100"])
def test_cifar_download_check_extract_parse(variant, tmp_path, cifar_source, monkeypatch):
    _, content = cifar_source(variant)
    root = tmp_path / "root"  # does not exist yet: the loader creates it
    check_cifar(data.load_cifar(variant, root=root), variant, content)
    spec = data.CIFAR_SPECS[variant]
    # Only the archive and the complete folder remain: no partial download, no temp dir.
    assert sorted(p.name for p in root.iterdir()) == sorted([spec.archive, spec.folder])
    # The second load uses the extracted folder, without the network.
    monkeypatch.setattr(data, "download_url", no_network)
    check_cifar(data.load_dataset(variant, root=root, download=False), variant, content)


def test_cifar_archive_already_in_root(tmp_path, cifar_source, monkeypatch):
    archive, content = cifar_source("cifar10")
    monkeypatch.setattr(data, "download_url", no_network)
    monkeypatch.setenv(data.DATA_ENV, str(archive.parent))  # root from the environment
    check_cifar(data.load_cifar("cifar10", download=False), "cifar10", content)


@pytest.mark.parametrize("variant", ["cifar10", "cifar100"])
def test_cifar_extracted_folder(variant, tmp_path, monkeypatch):
    content = write_cifar_folder(tmp_path / data.CIFAR_SPECS[variant].folder, variant)
    monkeypatch.setattr(data, "download_url", no_network)
    check_cifar(data.load_cifar(variant, root=tmp_path, download=False), variant, content)


def test_cifar_corrupted_archive(tmp_path, cifar_source, monkeypatch):
    archive, _ = cifar_source("cifar10")
    root = tmp_path / "root"
    root.mkdir()
    bad = bytearray(archive.read_bytes())
    bad[len(bad) // 2] ^= 0xFF
    (root / archive.name).write_bytes(bytes(bad))
    expected = data.CIFAR_SPECS["cifar10"].md5
    actual = hashlib.md5(bad).hexdigest()
    monkeypatch.setattr(data, "download_url", no_network)
    with pytest.raises(ValueError, match="md5") as err:
        data.load_cifar("cifar10", root=root)
    message = str(err.value)
    assert str(root / archive.name) in message and expected in message and actual in message
    assert [p.name for p in root.iterdir()] == [archive.name]  # nothing extracted


def test_cifar_corrupted_download_is_deleted(tmp_path, cifar_source, monkeypatch):
    archive, _ = cifar_source("cifar10")
    monkeypatch.setitem(
        data.CIFAR_SPECS, "cifar10", dataclasses.replace(data.CIFAR_SPECS["cifar10"], md5="0" * 32)
    )
    root = tmp_path / "root"
    with pytest.raises(ValueError, match="expected 0{32}"):
        data.load_cifar("cifar10", root=root)
    assert not root.exists()  # a retry downloads afresh; no empty data folder is left


def test_cifar_rejects_path_traversal(tmp_path, monkeypatch):
    root = tmp_path / "root"
    root.mkdir()
    archive = root / data.CIFAR_SPECS["cifar10"].archive
    with tarfile.open(archive, "w:gz") as tar:
        payload = b"escaped"
        info = tarfile.TarInfo("cifar-10-batches-py/../../evil.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    spec = dataclasses.replace(data.CIFAR_SPECS["cifar10"], md5=data.file_md5(archive))
    monkeypatch.setitem(data.CIFAR_SPECS, "cifar10", spec)
    with pytest.raises(ValueError, match="unsafe archive member"):
        data.load_cifar("cifar10", root=root, download=False)
    assert not (tmp_path / "evil.txt").exists()
    assert [p.name for p in root.iterdir()] == [archive.name]


@pytest.mark.parametrize("variant", ["cifar10", "cifar100"])
def test_cifar_offline_message(variant, tmp_path, monkeypatch):
    spec = data.CIFAR_SPECS[variant]
    monkeypatch.setattr(data, "download_url", no_network)
    with pytest.raises(FileNotFoundError) as err:
        data.load_cifar(variant, root=tmp_path, download=False)
    for part in (spec.archive, str(tmp_path), spec.url, spec.folder):
        assert part in str(err.value)
    monkeypatch.setattr(data, "download_url", offline)
    with pytest.raises(FileNotFoundError, match="Downloading failed") as err:
        data.load_cifar(variant, root=tmp_path)
    assert spec.archive in str(err.value) and str(tmp_path) in str(err.value)


def test_cifar_unknown_variant():
    with pytest.raises(ValueError, match="'cifar1000'"):
        data.load_cifar("cifar1000")


def test_pickles_may_not_run_code(tmp_path):
    path = tmp_path / "evil"
    path.write_bytes(pickle.dumps(os.getcwd, protocol=2))  # a global outside numpy
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        data._load_pickle(path)


def test_a_folder_with_fewer_images_than_the_release_is_rejected(tmp_path, monkeypatch):
    folder = tmp_path / data.CIFAR_SPECS["cifar10"].folder
    write_cifar_folder(folder, "cifar10")  # 10 training images
    monkeypatch.setitem(data.CIFAR_SPECS, "cifar10", OFFICIAL_SPECS["cifar10"])
    with pytest.raises(ValueError, match="hold 10 images, the official release 50000") as err:
        data.load_cifar("cifar10", root=tmp_path, download=False)
    assert str(folder) in str(err.value) and "delete it" in str(err.value)


@pytest.mark.parametrize(
    ("entry", "value", "words"),
    [
        ("data", cifar_rows(2, 1).astype(np.int64) + 45, "pixel values must lie in 0..255"),
        ("data", cifar_rows(2, 1).astype(np.float32), "'data' must hold integers"),
        ("data", cifar_rows(2, 1)[:, :1024], "expected data [N, 3072]"),
        ("labels", [0.5, 1.0], "'labels' must hold integers, got dtype float64"),
        ("labels", [3, 10], "labels must lie in 0..9, found 3..10"),
        ("labels", [1, 2, 3], "expected data [N, 3072] and N labels"),
        ("labels", "cat", "'labels' must hold integers"),
    ],
)
def test_cifar_batches_are_checked_not_cast(entry, value, words, tmp_path):
    folder = tmp_path / data.CIFAR_SPECS["cifar10"].folder
    write_cifar_folder(folder, "cifar10")
    path = folder / "data_batch_2"
    write_pickle(path, {"data": cifar_rows(2, 1), "labels": [1, 2], entry: value})
    with pytest.raises(ValueError) as err:
        data.load_cifar("cifar10", root=tmp_path, download=False)
    assert str(path) in str(err.value) and words in str(err.value)


def test_a_truncated_pickle_names_its_file(tmp_path):
    folder = tmp_path / data.CIFAR_SPECS["cifar10"].folder
    write_cifar_folder(folder, "cifar10")
    path = folder / "data_batch_3"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated or corrupt") as err:
        data.load_cifar("cifar10", root=tmp_path, download=False)
    assert str(path) in str(err.value)


def test_meta_with_the_wrong_number_of_classes_is_rejected(tmp_path):
    folder = tmp_path / data.CIFAR_SPECS["cifar10"].folder
    write_cifar_folder(folder, "cifar10")
    write_pickle(folder / "batches.meta", {"label_names": ["a", "b"]})
    with pytest.raises(ValueError, match="expected 10 class names") as err:
        data.load_cifar("cifar10", root=tmp_path, download=False)
    assert str(folder / "batches.meta") in str(err.value)


def test_failed_downloads_leave_no_empty_folder(tmp_path, monkeypatch):
    missing = (tmp_path / "no-such-file").as_uri()
    spec = dataclasses.replace(data.CIFAR_SPECS["cifar10"], url=missing)
    monkeypatch.setitem(data.CIFAR_SPECS, "cifar10", spec)
    with pytest.raises(FileNotFoundError, match="Downloading failed"):
        data.load_cifar("cifar10", root=tmp_path / "data" / "cifar")
    monkeypatch.setattr(data, "FASHION_MNIST_URL", missing + "/")
    monkeypatch.setattr(data, "FASHION_MNIST_DEBIAN_DIR", tmp_path / "no-debian")
    with pytest.raises(FileNotFoundError, match="Downloading train-images"):
        data.load_fashion_mnist(root=tmp_path / "data" / "fashion")
    assert not (tmp_path / "data").exists()


def dead_pid() -> int:
    """The id of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_extraction_is_cleaned_up_by_the_next_load(tmp_path, cifar_source):
    archive, content = cifar_source("cifar10")
    root = archive.parent
    stale = root / f".cifar-10-batches-py.{dead_pid()}.tmp"
    (stale / "cifar-10-batches-py").mkdir(parents=True)
    alive = root / f".cifar-10-batches-py.{os.getppid()}.tmp"  # another writer, still running
    alive.mkdir()
    check_cifar(data.load_cifar("cifar10", root=root, download=False), "cifar10", content)
    assert not stale.exists() and alive.is_dir()


# ----------------------------------------------------------------------------- idx files


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray) -> str:
    """Write an idx file (gzipped if the name ends in .gz); return the md5 of the idx bytes."""
    raw = idx_bytes(array)
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return hashlib.md5(raw).hexdigest()


def test_parse_idx_round_trip_and_errors(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    md5 = write_idx(tmp_path / "a.gz", images)
    assert write_idx(tmp_path / "a", images) == md5
    for name in ("a.gz", "a"):  # the md5 is of the decompressed bytes either way
        out = data.read_idx(tmp_path / name, md5)
        assert out.dtype == np.uint8 and np.array_equal(out, images)
    labels = np.array([3, 1, 4], dtype=np.uint8)
    assert data.parse_idx(idx_bytes(labels)).tolist() == [3, 1, 4]
    wide = bytes([0, 0, 0x0C, 1, 0, 0, 0, 2]) + np.array([1, -2], ">i4").tobytes()
    assert data.parse_idx(wide).tolist() == [1, -2]

    with pytest.raises(ValueError, match="not an idx file"):
        data.parse_idx(b"\x1f\x8b\x08\x00" + b"\x00" * 8, "x.idx")
    with pytest.raises(ValueError, match=r"header says shape \[2, 3, 4\].*has 39 bytes"):
        data.parse_idx(idx_bytes(images)[:-1])
    with pytest.raises(ValueError, match="truncated idx header"):
        data.parse_idx(bytes([0, 0, 8, 3, 0, 0]))


def test_read_idx_md5_mismatch(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    md5 = write_idx(path, np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="md5") as err:
        data.read_idx(path, "f" * 32)
    assert str(path) in str(err.value) and md5 in str(err.value) and "f" * 32 in str(err.value)
    path.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="not a valid gzip file"):
        data.read_idx(path)


def gzip_bomb(path: Path, head: bytes, zeros: int) -> None:
    """``head`` and then ``zeros`` zero bytes, gzipped, written a MiB at a time."""
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(head)
        for _ in range(zeros >> 20):
            f.write(bytes(1 << 20))


@pytest.mark.parametrize("head", [idx_bytes(np.arange(10)), b""], ids=["labels", "zeros"])
def test_a_gzip_bomb_is_refused_after_the_size_its_header_declares(head, tmp_path):
    import tracemalloc

    path = tmp_path / "train-labels-idx1-ubyte.gz"
    gzip_bomb(path, head, 256 << 20)  # 256 MiB behind a header of 18 bytes (or none)
    assert path.stat().st_size < 2 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=str(path)) as err:
            data.read_idx(path, "0" * 32)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    words = "decompresses to more than the 18 bytes its idx header declares" if head else (
        "not an idx file")
    assert words in str(err.value)
    assert peak < 16 << 20  # never the 256 MiB


def test_gzip_members_and_padding_read_as_before(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = idx_bytes(images)
    path = tmp_path / "a.gz"
    path.write_bytes(gzip.compress(raw[:10]) + gzip.compress(raw[10:]) + bytes(8))
    assert np.array_equal(data.read_idx(path, hashlib.md5(raw).hexdigest()), images)
    path.write_bytes(gzip.compress(raw)[:-4])  # cut short
    with pytest.raises(ValueError, match="not a valid gzip file"):
        data.read_idx(path)


# ----------------------------------------------------------------------------- Fashion-MNIST


def write_fake_fashion(folder: Path, monkeypatch) -> dict:
    """Tiny Fashion-MNIST idx files in ``folder``, their md5 patched in."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(1, 256, size=(4, 28, 28), dtype=np.uint8),
        "train_labels": np.array([0, 9, 3, 3], dtype=np.uint8),
        "test_images": rng.integers(1, 256, size=(2, 28, 28), dtype=np.uint8),
        "test_labels": np.array([7, 1], dtype=np.uint8),
    }
    files = {}
    for key, (stem, _) in data.FASHION_MNIST_FILES.items():
        files[key] = (stem, write_idx(folder / (stem + ".gz"), arrays[key]))
    monkeypatch.setattr(data, "FASHION_MNIST_FILES", files)
    return arrays


@pytest.mark.parametrize("subfolder", ["", "fashion-mnist"])
def test_fashion_mnist_from_root(subfolder, tmp_path, monkeypatch):
    arrays = write_fake_fashion(tmp_path / subfolder, monkeypatch)
    monkeypatch.setattr(data, "download_url", no_network)
    ds = data.load_dataset("fashion_mnist", root=tmp_path, download=False)
    assert ds.train_images.shape == (4, 1, 32, 32) and ds.test_images.shape == (2, 1, 32, 32)
    assert torch.equal(ds.train_images[:, 0, 2:30, 2:30], torch.from_numpy(arrays["train_images"]))
    assert ds.train_labels.tolist() == [0, 9, 3, 3] and ds.test_labels.tolist() == [7, 1]
    # The 2-pixel border is zero padding; the mean/std include it.
    mask = torch.ones(32, 32, dtype=torch.bool)
    mask[2:30, 2:30] = False
    assert ds.train_images[:, :, mask].eq(0).all()
    pixels = ds.train_images.double() / 255
    assert ds.mean == pytest.approx((pixels.mean().item(),))
    assert ds.std == pytest.approx((pixels.std(unbiased=False).item(),))


def test_fashion_mnist_offline_message(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "FASHION_MNIST_DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setattr(data, "download_url", no_network)
    with pytest.raises(FileNotFoundError) as err:
        data.load_fashion_mnist(root=tmp_path, download=False)
    message = str(err.value)
    assert "train-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert str(tmp_path / "fashion-mnist") in message and data.FASHION_MNIST_URL in message
    assert "dataset-fashion-mnist" in message


def test_fashion_mnist_bad_download_is_deleted(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "FASHION_MNIST_DEBIAN_DIR", tmp_path / "no-debian")
    server = tmp_path / "server"
    write_fake_fashion(server, monkeypatch)
    files = dict(data.FASHION_MNIST_FILES)
    files["test_labels"] = (files["test_labels"][0], "0" * 32)
    monkeypatch.setattr(data, "FASHION_MNIST_FILES", files)
    monkeypatch.setattr(data, "FASHION_MNIST_URL", server.as_uri() + "/")
    root = tmp_path / "root"
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz .decompressed.: expected 0"):
        data.load_fashion_mnist(root=root)
    assert sorted(p.name for p in (root / "fashion-mnist").iterdir()) == sorted(
        stem + ".gz" for stem, _ in files.values() if "t10k-labels" not in stem
    )


DEBIAN = data.FASHION_MNIST_DEBIAN_DIR
needs_debian = pytest.mark.skipif(
    not DEBIAN.is_dir(),
    reason=f"{DEBIAN} is absent (install the Debian package dataset-fashion-mnist)",
)


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    start = time.perf_counter()
    ds = data.load_fashion_mnist(root=tmp_path_factory.mktemp("empty"), download=False)
    return ds, time.perf_counter() - start


@needs_debian
def test_fashion_mnist_debian(fashion):
    ds, seconds = fashion
    assert seconds < 10, f"loading Fashion-MNIST took {seconds:.1f} s"
    assert ds.name == "fashion_mnist" and ds.classes == data.FASHION_MNIST_CLASSES
    assert ds.train_images.shape == (60000, 1, 32, 32) and ds.train_images.dtype == torch.uint8
    assert ds.test_images.shape == (10000, 1, 32, 32)
    for images in (ds.train_images, ds.test_images):
        assert images[:, :, :2].eq(0).all() and images[:, :, 30:].eq(0).all()
        assert images[:, :, :, :2].eq(0).all() and images[:, :, :, 30:].eq(0).all()
    assert ds.train_labels.bincount().tolist() == [6000] * 10
    assert ds.test_labels.bincount().tolist() == [1000] * 10
    # Published 28x28 mean 0.2860 and std 0.3530, diluted by the zero border.
    assert ds.mean[0] == pytest.approx(0.2860 * 28**2 / 32**2, abs=1e-3)
    assert 0.3 < ds.std[0] < 0.36


@needs_debian
def test_fashion_mnist_debian_md5_is_checked(tmp_path, monkeypatch):
    # Only the small label file, with a wrong md5: it fails before any image is read.
    stem, md5 = data.FASHION_MNIST_FILES["train_labels"]
    monkeypatch.setattr(data, "FASHION_MNIST_FILES", {"train_labels": (stem, "e" * 32)})
    with pytest.raises(ValueError, match=f"{stem}.gz .decompressed.: expected e{{32}}, got {md5}"):
        data.load_fashion_mnist(root=tmp_path, download=False)
    # The real constant matches the Debian file.
    assert data.read_idx(DEBIAN / (stem + ".gz"), md5).shape == (60000,)


# ----------------------------------------------------------------------------- synthetic


def test_synthetic_deterministic_and_balanced():
    a, b = data.make_synthetic(seed=3), data.make_synthetic(seed=3)
    assert torch.equal(a.train_images, b.train_images) and torch.equal(a.test_labels, b.test_labels)
    assert not torch.equal(a.train_images, data.make_synthetic(seed=4).train_images)
    assert a.train_images.shape == (512, 3, 32, 32) and a.train_images.dtype == torch.uint8
    assert a.train_labels.bincount().tolist() == [128] * 4
    assert a.test_labels.bincount().tolist() == [64] * 4
    assert a.num_classes == 4 and len(set(a.classes)) == 4

    c = data.make_synthetic(n_train=103, n_test=20, num_classes=10, image_size=16, channels=1)
    counts = c.train_labels.bincount(minlength=10)
    assert counts.max() - counts.min() <= 1 and c.train_images.shape == (103, 1, 16, 16)
    pixels = c.train_images.double() / 255
    assert c.mean == pytest.approx((pixels.mean().item(),))
    assert c.std == pytest.approx((pixels.std(unbiased=False).item(),))
    with pytest.raises(ValueError, match="num_classes must be an int >= 2, got 1"):
        data.make_synthetic(num_classes=1)


def test_synthetic_is_learnable_with_augmentation():
    """A tiny CNN trained briefly with crop + flip separates the classes."""
    ds = data.make_synthetic(seed=0)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, ds.num_classes),
    )  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    norm = {"mean": ds.mean, "std": ds.std}
    for epoch in range(4):
        batches = data.iterate_batches(
            ds.train_images, ds.train_labels, 64, **norm, shuffle=True, augment=True, epoch=epoch
        )
        for x, y in batches:
            loss = torch.nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        x, y = next(data.iterate_batches(ds.test_images, ds.test_labels, 1000, **norm))
        accuracy = (net(x).argmax(1) == y).double().mean().item()
    assert accuracy > 0.9


# ----------------------------------------------------------------------------- data set API


def small_dataset(counts=(30, 30, 30), test_counts=(10, 10, 10)) -> data.ImageDataset:
    def split(cs):
        labels = torch.cat([torch.full((c,), k) for k, c in enumerate(cs)])
        labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]
        # Each image carries its index, to check which ones a subset keeps.
        images = torch.arange(len(labels)).to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 4, 4)
        return images.contiguous(), labels

    names = tuple(f"c{k}" for k in range(len(counts)))
    return data.ImageDataset("toy", *split(counts), *split(test_counts), names, (0.5,), (0.25,))


def test_subset_stratified_and_deterministic():
    ds = small_dataset(counts=(60, 30, 10), test_counts=(10, 10, 10))
    sub = ds.subset(train=10, test=6, seed=1)
    assert sub.train_labels.bincount().tolist() == [6, 3, 1]
    assert sub.test_labels.bincount().tolist() == [2, 2, 2]
    # The images travel with their labels and keep their original order.
    kept = sub.train_images[:, 0, 0, 0].long()
    assert torch.equal(ds.train_labels[kept], sub.train_labels) and kept.diff().gt(0).all()
    again = ds.subset(train=10, test=6, seed=1)
    assert torch.equal(again.train_images, sub.train_images)
    assert not torch.equal(ds.subset(train=10, seed=2).train_images, sub.train_images)
    full = ds.subset(test=3)
    assert full.train_images is ds.train_images and len(full.test_labels) == 3
    assert sum(ds.subset(train=7).train_labels.bincount().tolist()) == 7
    assert (
        len(ds.subset(train=0).train_labels) == 0 and len(ds.subset(train=100).train_labels) == 100
    )


def test_subset_too_large():
    ds = small_dataset()
    with pytest.raises(ValueError, match="train=91 .*90"):
        ds.subset(train=91)
    with pytest.raises(ValueError, match="test=31 .*30"):
        ds.subset(test=31)
    with pytest.raises(ValueError, match="train must be .* got -1"):
        ds.subset(train=-1)
    with pytest.raises(ValueError, match="test must be .* got 2.5"):
        ds.subset(test=2.5)


def test_dataset_properties_to_and_validation():
    ds = small_dataset()
    assert (ds.num_classes, ds.in_channels, ds.image_size) == (3, 1, (4, 4))
    assert "train=90" in repr(ds) and "tensor" not in repr(ds)
    moved = ds.to("cpu")
    assert moved.train_images.device.type == "cpu" and moved.classes == ds.classes
    with pytest.raises(ValueError, match="train_images must be uint8"):
        dataclasses.replace(ds, train_images=ds.train_images.float())
    with pytest.raises(ValueError, match="test_labels must be int64"):
        dataclasses.replace(ds, test_labels=ds.test_labels[:-1])
    with pytest.raises(ValueError, match="one value per channel"):
        dataclasses.replace(ds, mean=(0.1, 0.2))


def test_load_dataset_names():
    with pytest.raises(
        ValueError, match="cifar10, cifar100, fashion_mnist, synthetic; got 'mnist'"
    ):
        data.load_dataset("mnist")
    ds = data.load_dataset("synthetic", n_train=8, n_test=4, num_classes=2)
    assert len(ds.train_labels) == 8 and ds.num_classes == 2
    with pytest.raises(TypeError, match="n_train"):
        data.load_dataset("cifar10", n_train=8)


def test_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "env"))
    assert data.data_root() == tmp_path / "env"
    assert data.data_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv(data.DATA_ENV)
    assert data.data_root() == Path.home() / ".cache" / "hybridlib"


# ----------------------------------------------------------------------------- batches


def position_images(n: int = 40, size: int = 8) -> torch.Tensor:
    """uint8 ``[n, 1, size, size]`` whose pixels 1..size**2 say where they are (0 = padding)."""
    grid = torch.arange(1, size * size + 1).view(1, 1, size, size)
    return grid.expand(n, 1, size, size).to(torch.uint8).contiguous()


UNIT = {"mean": (0.0,), "std": (1.0,)}  # x = pixel / 255


def collect(images, labels, batch_size, **kwargs):
    return list(data.iterate_batches(images, labels, batch_size, **{**UNIT, **kwargs}))


def test_batches_shapes_order_and_determinism():
    images = torch.randint(0, 256, (50, 1, 8, 8), dtype=torch.uint8)
    labels = torch.arange(50)
    plain = collect(images, labels, 16)
    assert [len(y) for _, y in plain] == [16, 16, 16, 2]
    assert torch.cat([y for _, y in plain]).tolist() == list(range(50))
    x, y = plain[0]
    assert x.dtype == torch.float32 and x.shape == (16, 1, 8, 8) and y.dtype == torch.int64
    assert torch.allclose(x * 255, images[:16].float())

    def run(**kw):
        return collect(images, labels, 16, shuffle=True, augment=True, seed=7, **kw)

    first, again = run(epoch=3), run(epoch=3)
    for (xa, ya), (xb, yb) in zip(first, again, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    order = torch.cat([y for _, y in first])
    assert sorted(order.tolist()) == list(range(50)) and order.tolist() != list(range(50))
    assert not torch.equal(order, torch.cat([y for _, y in run(epoch=4)]))
    other_seed = collect(images, labels, 16, shuffle=True, seed=8, epoch=3)
    assert not torch.equal(order, torch.cat([y for _, y in other_seed]))
    # A batch's content depends on (seed, epoch) only, not on what was iterated before.
    _ = run(epoch=0), run(epoch=1)
    assert torch.equal(run(epoch=3)[2][0], first[2][0])


def test_batches_drop_last_and_num_batches():
    images, labels = torch.zeros(10, 1, 4, 4, dtype=torch.uint8), torch.arange(10)
    assert [len(y) for _, y in collect(images, labels, 4, drop_last=True)] == [4, 4]
    assert [len(y) for _, y in collect(images, labels, 4)] == [4, 4, 2]
    assert collect(images[:3], labels[:3], 4, drop_last=True) == []
    assert data.num_batches(10, 4, drop_last=False) == 3
    assert data.num_batches(10, 4, drop_last=True) == 2
    assert data.num_batches(8, 4, drop_last=False) == data.num_batches(8, 4, drop_last=True) == 2
    assert data.num_batches(0, 4, drop_last=False) == 0
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        data.num_batches(10, 0, drop_last=False)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        collect(images, labels, 0)


def test_batches_normalisation():
    mean, std = (0.2, 0.4, 0.6), (0.5, 0.25, 0.1)
    norm = {"mean": mean, "std": std}
    zeros = torch.zeros(20, dtype=torch.int64)
    values = torch.tensor([51, 102, 153], dtype=torch.uint8)  # exactly 255 * mean
    images = values.view(1, 3, 1, 1).expand(20, 3, 8, 8).contiguous()
    x, _ = next(data.iterate_batches(images, zeros, 20, **norm))
    assert x.abs().max() < 1e-5

    images = torch.randint(0, 256, (20, 3, 5, 5), dtype=torch.uint8)
    x, _ = next(data.iterate_batches(images, zeros, 20, **norm))
    m, s = (torch.tensor(v, dtype=torch.float64).view(1, 3, 1, 1) for v in (mean, std))
    assert torch.allclose(x.double(), (images / 255 - m) / s, atol=1e-5)

    with pytest.raises(ValueError, match="mean and std need 3 values"):
        data.iterate_batches(images, zeros, 6, mean=(0.5,), std=std)
    with pytest.raises(ValueError, match="labels must be int64 \\[20\\]"):
        data.iterate_batches(images, zeros.float(), 6, **norm)
    with pytest.raises(ValueError, match="images must be uint8"):
        data.iterate_batches(images.float(), zeros, 6, **norm)  # raises at the call


def test_augmentation_is_a_crop_and_flip_of_the_padded_image():
    images = position_images()
    pad, size = 4, images.shape[-1]
    padded = torch.nn.functional.pad(images[0, 0], (pad,) * 4)
    seen_offsets, seen_flips = set(), set()
    for x, _ in collect(images, torch.zeros(len(images), dtype=torch.int64), 16, augment=True):
        assert x.shape == (len(x), 1, size, size)
        for out in (x[:, 0] * 255).round().to(torch.uint8):
            matches = [
                (dy, dx, flip)
                for dy in range(2 * pad + 1)
                for dx in range(2 * pad + 1)
                for flip in (False, True)
                if torch.equal(
                    out,
                    torch.flip(padded[dy : dy + size, dx : dx + size], dims=[-1])
                    if flip
                    else padded[dy : dy + size, dx : dx + size],
                )
            ]
            assert len(matches) == 1, "not a crop (or flipped crop) of the padded image"
            dy, dx, flip = matches[0]
            seen_offsets.add((dy, dx))
            seen_flips.add(flip)
    assert seen_flips == {False, True} and len(seen_offsets) > 10
    # Without augment the images come back untouched.
    x, _ = collect(images, torch.zeros(len(images), dtype=torch.int64), 40)[0]
    assert torch.equal((x * 255).round().to(torch.uint8), images)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batches_same_on_cuda_as_on_cpu():
    images = torch.randint(0, 256, (70, 3, 8, 8), dtype=torch.uint8)
    labels = torch.arange(70)
    kw = {"shuffle": True, "augment": True, "seed": 1, "epoch": 2}
    cpu = collect(images, labels, 32, **kw)
    cuda = collect(images.cuda(), labels.cuda(), 32, **kw)
    for (xa, ya), (xb, yb) in zip(cpu, cuda, strict=True):
        assert xb.device.type == "cuda" and torch.equal(ya, yb.cpu())
        assert torch.allclose(xa, xb.cpu())


def test_crop_flip_with_known_parameters():
    images = position_images(n=3)
    dy, dx = torch.tensor([0, 4, 8]), torch.tensor([8, 4, 1])
    flip = torch.tensor([True, False, True])
    out = data._crop_flip(images, dy, dx, flip, pad=4)
    padded = torch.nn.functional.pad(images, (4,) * 4)
    for b in range(3):
        crop = padded[b, :, dy[b] : dy[b] + 8, dx[b] : dx[b] + 8]
        assert torch.equal(out[b], torch.flip(crop, dims=[-1]) if flip[b] else crop)
    assert torch.equal(out[1], images[1])  # offset (4, 4) without flip is the identity
