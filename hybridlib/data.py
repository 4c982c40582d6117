"""Image data sets as uint8 tensors, and on-device batches with batched augmentation.

Every loader returns an :class:`ImageDataset`: the whole data set as one uint8 tensor per
split, ``[N, C, H, W]``, plus int64 labels ``[N]``, the class names and the per-channel
normalisation constants. The set is moved to the device once (:meth:`ImageDataset.to`);
:func:`iterate_batches` then converts and normalises one batch at a time on that device,
with random crop + flip done as batched tensor operations.

Sources:

* CIFAR-10 / CIFAR-100 (:func:`load_cifar`): the official python-pickle archives from
  https://www.cs.toronto.edu/~kriz/, downloaded into the data root, md5-checked and
  extracted; an already-extracted folder in the data root is used as is.
* Fashion-MNIST (:func:`load_fashion_mnist`): the four idx files, from the data root, from
  the Debian package ``dataset-fashion-mnist`` or downloaded from Zalando; 28x28 images
  are zero-padded to 32x32 so that the CIFAR networks apply unchanged.
* A synthetic, class-separable set (:func:`make_synthetic`) for smoke runs and tests.

The data root is the ``root`` argument, else ``$HYBRIDLIB_DATA``, else
``~/.cache/hybridlib``.
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import math
import os
import pickle
import shutil
import tarfile
import urllib.request
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hybridlib.tempfiles import remove_dead_writers, temporary_path

__all__ = [
    "CIFAR_NORM",
    "CIFAR_SPECS",
    "DATASETS",
    "DATA_ENV",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DEBIAN_DIR",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_URL",
    "CifarSpec",
    "ImageDataset",
    "data_root",
    "download_url",
    "file_md5",
    "iterate_batches",
    "load_cifar",
    "load_dataset",
    "load_fashion_mnist",
    "make_synthetic",
    "num_batches",
    "parse_idx",
    "read_idx",
]

DATA_ENV = "HYBRIDLIB_DATA"
DATASETS = ("cifar10", "cifar100", "fashion_mnist", "synthetic")

# The constants of the official DiffStride configuration (REFERENCE §5), used for CIFAR-100 too.
CIFAR_NORM = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data directory: ``root`` if given, else ``$HYBRIDLIB_DATA``, else ``~/.cache/hybridlib``.

    The directory is not created here; loaders create it only when they write to it.
    """
    if root is None:
        root = os.environ.get(DATA_ENV) or Path.home() / ".cache" / "hybridlib"
    return Path(root).expanduser()


# ----------------------------------------------------------------------------- data set


@dataclass
class ImageDataset:
    """A labelled image data set held as uint8 tensors.

    Attributes:
        name: the data set's name, e.g. ``"cifar10"``.
        train_images: uint8 ``[N, C, H, W]``.
        train_labels: int64 ``[N]``, values in ``0 .. num_classes - 1``.
        test_images: uint8 ``[M, C, H, W]``.
        test_labels: int64 ``[M]``.
        classes: the class names, indexed by label.
        mean: per-channel mean of the training pixels, in ``[0, 1]`` units.
        std: per-channel standard deviation, in ``[0, 1]`` units.
    """

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        self.classes = tuple(self.classes)
        self.mean = tuple(float(m) for m in self.mean)
        self.std = tuple(float(s) for s in self.std)
        for split in ("train", "test"):
            images = getattr(self, f"{split}_images")
            labels = getattr(self, f"{split}_labels")
            if images.dtype != torch.uint8 or images.ndim != 4:
                raise ValueError(
                    f"{split}_images must be uint8 [N, C, H, W], got {images.dtype} "
                    f"{list(images.shape)}"
                )
            if labels.dtype != torch.int64 or labels.shape != images.shape[:1]:
                raise ValueError(
                    f"{split}_labels must be int64 [{images.shape[0]}], got {labels.dtype} "
                    f"{list(labels.shape)}"
                )
        if self.test_images.shape[1:] != self.train_images.shape[1:]:
            raise ValueError(
                f"test_images {list(self.test_images.shape[1:])} and train_images "
                f"{list(self.train_images.shape[1:])} differ in [C, H, W]"
            )
        if not len(self.mean) == len(self.std) == self.in_channels:
            raise ValueError(
                f"mean {self.mean} and std {self.std} need one value per channel "
                f"({self.in_channels})"
            )

    def __repr__(self) -> str:
        # The default dataclass repr would print the tensors.
        c, h, w = self.train_images.shape[1:]
        return (
            f"ImageDataset(name={self.name!r}, train={len(self.train_labels)}, "
            f"test={len(self.test_labels)}, image=[{c}, {h}, {w}], "
            f"classes={self.num_classes}, device={self.train_images.device})"
        )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.train_images.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.train_images.shape[2]), int(self.train_images.shape[3])

    def to(self, device: torch.device | str) -> ImageDataset:
        """A copy with the four tensors on ``device``, still uint8 (a quarter of float32's size)."""
        return dataclasses.replace(
            self,
            train_images=self.train_images.to(device),
            train_labels=self.train_labels.to(device),
            test_images=self.test_images.to(device),
            test_labels=self.test_labels.to(device),
        )

    def hold_out(
        self, n: int, seed: int = 0
    ) -> tuple[ImageDataset, tuple[torch.Tensor, torch.Tensor]]:
        """Split ``n`` training images off as a validation set (class-balanced, by ``seed``).

        Returns the data set without them and ``(images [n, C, H, W], labels [n])``;
        ``mean`` and ``std`` stay those of the full training set.
        """
        return _hold_out(self, n, seed)

    def subset(
        self, train: int | None = None, test: int | None = None, seed: int = 0
    ) -> ImageDataset:
        """A deterministic stratified subset: ``train`` / ``test`` images, ``None`` keeps all.

        Each class keeps its share of the split (largest-remainder rounding), the images of
        a class are drawn at random (fixed by ``seed``) and keep their original order.
        ``mean`` and ``std`` are kept, so a subset is normalised like the full set.
        """
        train_idx = _stratified_indices(self.train_labels, train, seed, "train")
        test_idx = _stratified_indices(self.test_labels, test, seed + 1, "test")

        def pick(t: torch.Tensor, idx: torch.Tensor | None) -> torch.Tensor:
            return t if idx is None else t[idx.to(t.device)]

        return dataclasses.replace(
            self,
            train_images=pick(self.train_images, train_idx),
            train_labels=pick(self.train_labels, train_idx),
            test_images=pick(self.test_images, test_idx),
            test_labels=pick(self.test_labels, test_idx),
        )


def _hold_out(data: ImageDataset, n: int, seed: int):
    """``data`` without a class-balanced sample of ``n`` training images, and that sample."""
    held = _stratified_indices(data.train_labels, n, seed, "validation")
    keep = torch.ones(len(data.train_labels), dtype=torch.bool)
    keep[held] = False
    keep = keep.to(data.train_labels.device)
    held = held.to(data.train_labels.device)
    rest = dataclasses.replace(
        data, train_images=data.train_images[keep], train_labels=data.train_labels[keep]
    )
    return rest, (data.train_images[held], data.train_labels[held])


def _stratified_indices(
    labels: torch.Tensor, n: int | None, seed: int, arg: str
) -> torch.Tensor | None:
    """Sorted indices ``[n]`` of a class-stratified random sample of ``labels`` (None: all)."""
    if n is None:
        return None
    total = len(labels)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"{arg} must be a non-negative int or None, got {n!r}")
    if n > total:
        raise ValueError(f"{arg}={n} is larger than the {total} {arg} images available")
    if n == 0:
        return torch.zeros(0, dtype=torch.int64)
    labels = labels.cpu()
    classes, counts = torch.unique(labels, return_counts=True)
    # Largest-remainder rounding: quotas sum to n and never exceed a class's count.
    exact = counts.double() * n / total
    quota = exact.floor().long()
    short = n - int(quota.sum())
    quota[torch.argsort(exact - quota, descending=True, stable=True)[:short]] += 1
    gen = torch.Generator().manual_seed(seed)
    chosen = []
    for c, k in zip(classes.tolist(), quota.tolist(), strict=True):
        members = torch.nonzero(labels == c).flatten()
        chosen.append(members[torch.randperm(len(members), generator=gen)[:k]])
    return torch.cat(chosen).sort().values


def _channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images ``[N, C, H, W]``, in ``[0, 1]`` units.

    Exact, from a 256-bin histogram per channel: no float copy of the whole set is needed.
    """
    values = torch.arange(256, dtype=torch.float64) / 255
    means, stds = [], []
    for c in range(images.shape[1]):
        counts = torch.bincount(images[:, c].flatten().cpu(), minlength=256).double()
        p = counts / counts.sum()
        mean = float((p * values).sum())
        means.append(mean)
        stds.append(math.sqrt(float((p * (values - mean) ** 2).sum())))
    return tuple(means), tuple(stds)


# ----------------------------------------------------------------------------- files


def file_md5(path: str | os.PathLike) -> str:
    """Hex md5 of a file's bytes, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_url(url: str, dest: str | os.PathLike) -> None:
    """Download ``url`` to ``dest`` with a progress bar.

    The bytes go to ``dest + ".part"`` first and are renamed at the end, so an
    interrupted download never leaves a file that looks complete.
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    with _no_empty_folders(dest.parent):
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                    for chunk in iter(lambda: response.read(1 << 16), b""):
                        out.write(chunk)
                        bar.update(len(chunk))
            os.replace(part, dest)
        finally:
            part.unlink(missing_ok=True)


@contextmanager
def _no_empty_folders(folder: Path) -> Iterator[None]:
    """If the block fails, remove the folders up to ``folder`` that it created and left empty.

    A failed download or a rejected file must not leave an empty data folder behind, which
    would look like a data set that is there.
    """
    missing = []
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    try:
        yield
    except BaseException:
        for created in missing:  # deepest first; stop at the first one that holds something
            try:
                created.rmdir()
            except OSError:
                break
        raise


def _md5_error(path: Path, expected: str, actual: str, what: str = "") -> ValueError:
    return ValueError(
        f"md5 mismatch for {path}{what}: expected {expected}, got {actual}. "
        "The file is corrupted or incomplete; delete it and download it again."
    )


# ----------------------------------------------------------------------------- CIFAR


@dataclass(frozen=True)
class CifarSpec:
    """Where a CIFAR variant lives and how its pickles are laid out."""

    title: str
    url: str
    archive: str  # file name of the .tar.gz
    md5: str  # of the .tar.gz
    folder: str  # top folder inside the archive
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_key: str
    meta_file: str
    names_key: str
    num_classes: int
    train_size: int  # images in the training files together
    test_size: int


_KRIZ = "https://www.cs.toronto.edu/~kriz/"
CIFAR_SPECS: dict[str, CifarSpec] = {
    "cifar10": CifarSpec(
        title="CIFAR-10",
        url=_KRIZ + "cifar-10-python.tar.gz",
        archive="cifar-10-python.tar.gz",
        md5="c58f30108f718f92721af3b95e74349a",
        folder="cifar-10-batches-py",
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test_files=("test_batch",),
        label_key="labels",
        meta_file="batches.meta",
        names_key="label_names",
        num_classes=10,
        train_size=50000,
        test_size=10000,
    ),
    "cifar100": CifarSpec(
        title="CIFAR-100",
        url=_KRIZ + "cifar-100-python.tar.gz",
        archive="cifar-100-python.tar.gz",
        md5="eb9058c3a382ffc7106e4002c42a8d85",
        folder="cifar-100-python",
        train_files=("train",),
        test_files=("test",),
        label_key="fine_labels",
        meta_file="meta",
        names_key="fine_label_names",
        num_classes=100,
        train_size=50000,
        test_size=10000,
    ),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only.

    A pickle can run arbitrary code when loaded; the CIFAR batches need nothing beyond
    numpy's array reconstruction, so every other global is refused.
    """

    _reconstruct = np.zeros(1).__reduce__()[0]
    _frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy.core.numeric", "_frombuffer"): _frombuffer,
        ("numpy._core.numeric", "_frombuffer"): _frombuffer,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,
    }

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise _RefusedGlobal(f"refusing to unpickle {module}.{name}") from None


class _RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for something other than plain containers and numpy arrays."""


def _load_pickle(path: Path) -> dict:
    """The dict pickled in ``path``; a damaged file is a ValueError naming it."""
    with open(path, "rb") as f:
        try:
            # latin1 reads the Python 2 pickles of the official archives (str keys and names).
            obj = _ArrayUnpickler(f, encoding="latin1").load()
        except _RefusedGlobal as err:
            raise _RefusedGlobal(f"{path}: {err}") from None
        except Exception as err:  # a damaged pickle can raise almost anything
            raise ValueError(
                f"{path} is truncated or corrupt ({type(err).__name__}: {err}); delete "
                f"{path.parent} and load again to extract it afresh"
            ) from err
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _check_cifar_batch(batch: dict, path: Path, label_key: str, num_classes: int):
    """Images uint8 ``[N, 3, 32, 32]`` and labels int64 ``[N]`` (numpy) from one batch's dict.

    Checked rather than cast: a cast would wrap pixel values outside 0..255 around and
    truncate fractional labels, and a damaged folder would load as a data set.

    Raises:
        ValueError: naming ``path`` and what is wrong.
    """
    for key in ("data", label_key):
        if key not in batch:
            raise ValueError(f"{path}: no {key!r} entry (has {sorted(map(str, batch))})")
    data = _integer_array(batch["data"], path, "data")
    lab = _integer_array(batch[label_key], path, label_key)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or lab.shape != data.shape[:1]:
        raise ValueError(
            f"{path}: expected data [N, 3072] and N labels, got data {list(data.shape)} and "
            f"labels {list(lab.shape)}"
        )
    if data.size and (data.min() < 0 or data.max() > 255):
        raise ValueError(
            f"{path}: pixel values must lie in 0..255, found {data.min()}..{data.max()}"
        )
    if lab.size and (lab.min() < 0 or lab.max() >= num_classes):
        raise ValueError(
            f"{path}: {label_key} must lie in 0..{num_classes - 1}, found {lab.min()}..{lab.max()}"
        )
    # A row is the R, G and B planes of 32x32 in turn, row-major.
    return data.astype(np.uint8, copy=False).reshape(-1, 3, 32, 32), lab.astype(np.int64)


def _integer_array(value, path: Path, key: str) -> np.ndarray:
    """``value`` as a numpy array of integers, or a ValueError naming ``path`` and ``key``."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as err:  # ragged lists and the like
        raise ValueError(f"{path}: {key!r} is not an array of integers ({err})") from err
    if array.size == 0 and array.dtype.kind in "iuf":  # [] reads as float64
        return array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{path}: {key!r} must hold integers, got dtype {array.dtype}")
    return array


def _read_cifar_batches(
    folder: Path, files: Sequence[str], label_key: str, num_classes: int, size: int
):
    """Images uint8 ``[N, 3, 32, 32]`` and labels int64 ``[N]`` from CIFAR batch pickles.

    ``size`` is the number of images the files hold together in the official release.
    """
    images, labels = [], []
    for name in files:
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: {folder} is not a complete CIFAR folder")
        x, y = _check_cifar_batch(_load_pickle(path), path, label_key, num_classes)
        images.append(x)
        labels.append(y)
    found = sum(len(y) for y in labels)
    if found != size:
        raise ValueError(
            f"{folder}: {', '.join(files)} hold {found} images, the official release {size}; "
            f"the folder is incomplete or not the official one: delete it and load again"
        )
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


def _safe_extract(archive: Path, dest: Path) -> None:
    """Extract a .tar.gz into ``dest``, refusing links, devices and paths that leave ``dest``."""
    dest = dest.resolve()
    with tarfile.open(archive, "r:gz") as tar:
        members = tar.getmembers()
        for m in members:
            target = (dest / m.name).resolve()
            if not (m.isfile() or m.isdir()) or not target.is_relative_to(dest):
                raise ValueError(f"{archive}: refusing unsafe archive member {m.name!r}")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=members, filter="data")
        else:  # Python < 3.11.4: the check above is the whole protection.
            tar.extractall(dest, members=members)


def _not_found(title: str, file: str, url: str, folder: Path, also: str = "") -> str:
    return (
        f"{title} not found. Put {file} (from {url}) into {folder}{also}, or set "
        f"${DATA_ENV} or pass root= to the directory that holds it."
    )


def load_cifar(
    variant: str = "cifar10", root: str | os.PathLike | None = None, download: bool = True
) -> ImageDataset:
    """CIFAR-10 or CIFAR-100 (fine labels): 50000 train / 10000 test, uint8 ``[N, 3, 32, 32]``.

    Looks in the data root for the extracted folder (``cifar-10-batches-py/`` or
    ``cifar-100-python/``), else for the archive, else downloads the archive (only when
    ``download`` is true). The archive's md5 is checked before it is extracted, into a
    temporary folder that is renamed into place only once complete. An extracted folder
    is checked rather than trusted: the number of images and classes of the release,
    integer pixel values in 0..255 and labels in range.

    Args:
        variant: ``"cifar10"`` or ``"cifar100"``.
        root: the data directory (see :func:`data_root`).
        download: fetch the archive from the official site when it is not in ``root``.
    """
    if variant not in CIFAR_SPECS:
        raise ValueError(f"variant must be one of {sorted(CIFAR_SPECS)}, got {variant!r}")
    spec = CIFAR_SPECS[variant]
    root = data_root(root)
    folder = root / spec.folder
    if not folder.is_dir():
        _fetch_and_extract(spec, root, download)
    meta_path = folder / spec.meta_file
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} is missing: {folder} is not a complete CIFAR folder")
    meta = _load_pickle(meta_path)
    names = meta.get(spec.names_key)
    if not isinstance(names, (list, tuple)) or len(names) != spec.num_classes:
        raise ValueError(
            f"{meta_path}: expected {spec.num_classes} class names under {spec.names_key!r}, "
            f"got {names if names is None else type(names).__name__ + ' of ' + str(len(names))}"
        )
    classes = tuple(str(c) for c in names)
    train_x, train_y = _read_cifar_batches(
        folder, spec.train_files, spec.label_key, spec.num_classes, spec.train_size
    )
    test_x, test_y = _read_cifar_batches(
        folder, spec.test_files, spec.label_key, spec.num_classes, spec.test_size
    )
    mean, std = CIFAR_NORM
    return ImageDataset(
        name=variant,
        train_images=train_x,
        train_labels=train_y,
        test_images=test_x,
        test_labels=test_y,
        classes=classes,
        mean=mean,
        std=std,
    )


def _fetch_and_extract(spec: CifarSpec, root: Path, download: bool) -> None:
    """Make ``root / spec.folder`` exist: download (if allowed), check and extract the archive."""
    with _no_empty_folders(root):
        _fetch_and_extract_into(spec, root, download)


def _fetch_and_extract_into(spec: CifarSpec, root: Path, download: bool) -> None:
    archive = root / spec.archive
    also = f" (or its extracted folder {spec.folder}/ there)"
    downloaded = False
    if not archive.is_file():
        if not download:
            raise FileNotFoundError(
                _not_found(spec.title, spec.archive, spec.url, root, also) + " (download=False)"
            )
        try:
            download_url(spec.url, archive)
        except OSError as err:  # no network, DNS failure, HTTP error, ...
            raise FileNotFoundError(
                _not_found(spec.title, spec.archive, spec.url, root, also)
                + f" Downloading failed: {err}"
            ) from err
        downloaded = True
    actual = file_md5(archive)
    if actual != spec.md5:
        if downloaded:  # A retry should download afresh rather than trip on the same bytes.
            archive.unlink()
        raise _md5_error(archive, spec.md5, actual)
    # Named after this process, so that a later load can remove what a killed one left.
    remove_dead_writers(root)
    tmp = temporary_path(root / spec.folder)
    tmp.mkdir()
    try:
        _safe_extract(archive, tmp)
        if not (tmp / spec.folder).is_dir():
            raise ValueError(f"{archive} has no top folder {spec.folder}/")
        try:
            os.replace(tmp / spec.folder, root / spec.folder)
        except OSError:
            # Another process finished the same extraction first: use its folder.
            if not (root / spec.folder).is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ----------------------------------------------------------------------------- Fashion-MNIST

FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
# md5 of the decompressed idx bytes: the .gz bytes differ between the upstream and Debian copies.
FASHION_MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
    "train_labels": ("train-labels-idx1-ubyte", "9018921c3c673c538a1fc5bad174d6f9"),
    "test_images": ("t10k-images-idx3-ubyte", "8181f5470baa50b63fa0f6fddb340f0a"),
    "test_labels": ("t10k-labels-idx1-ubyte", "15d484375f8d13e6eb1aabb0c3f46965"),
}
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

# idx type byte -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/, bottom).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_HEADER_MAX = 4 + 4 * 255  # the magic, then a 4-byte size for each of <= 255 dimensions


def parse_idx(buf: bytes, source: str = "idx data") -> np.ndarray:
    """Parse the bytes of an idx file into an array (shape from its header).

    Header: two zero bytes, a type byte, the number of dimensions ``d``, then ``d``
    big-endian uint32 sizes. ``source`` names the file in error messages.
    """
    if len(buf) < 4 or buf[0] != 0 or buf[1] != 0 or buf[2] not in _IDX_DTYPES:
        raise ValueError(f"{source}: not an idx file (magic bytes {buf[:4].hex() or 'none'})")
    ndim = buf[3]
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise ValueError(f"{source}: truncated idx header ({len(buf)} bytes)")
    shape = tuple(int(s) for s in np.frombuffer(buf, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[buf[2]])
    expected = header + math.prod(shape) * dtype.itemsize
    if len(buf) != expected:
        raise ValueError(
            f"{source}: header says shape {list(shape)} ({expected} bytes), "
            f"file has {len(buf)} bytes"
        )
    try:
        values = np.frombuffer(buf, dtype, offset=header).reshape(shape)
    except ValueError as err:  # e.g. an empty array with sizes too large to address
        raise ValueError(f"{source}: header shape {list(shape)} is not usable ({err})") from err
    return values.astype(dtype.newbyteorder("="))


def _gunzip(data: bytes, limit: int) -> bytes:
    """What gzip ``data`` (every member) decompresses to, stopped after ``limit + 1`` bytes."""
    out, rest = bytearray(), data
    while rest and len(out) <= limit:
        stream = zlib.decompressobj(wbits=31)  # gzip framing, its checksum checked at the end
        out += stream.decompress(rest, limit + 1 - len(out))
        if not stream.eof:
            if len(out) <= limit:
                raise EOFError("compressed file ended before the end-of-stream marker was "
                               "reached")
            break
        rest = stream.unused_data.lstrip(b"\0")  # as gzip.decompress: zero padding between
    return bytes(out)


def _idx_size(head: bytes) -> int | None:
    """The size of a whole idx file from its first bytes; None if they are no idx header."""
    if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in _IDX_DTYPES:
        return None
    header = 4 + 4 * head[3]
    if len(head) < header:
        return None
    shape = np.frombuffer(head, ">u4", count=head[3], offset=4)
    return header + math.prod(int(s) for s in shape) * np.dtype(_IDX_DTYPES[head[2]]).itemsize


def read_idx(path: str | os.PathLike, md5: str | None = None) -> np.ndarray:
    """Read an idx file (gzipped if its name ends in ``.gz``), checking the md5 of its
    decompressed bytes when ``md5`` is given."""
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        # Decompressed no further than the size its idx header declares: a gzip bomb is
        # refused after that many bytes, not after gigabytes.
        try:
            head = _gunzip(raw, _IDX_HEADER_MAX)
            size = _idx_size(head)
            if size is None:
                parse_idx(head, str(path))  # raises: no idx magic, or a header cut short
            raw = _gunzip(raw, size)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"{path}: not a valid gzip file ({err})") from err
        if len(raw) > size:
            raise ValueError(f"{path}: decompresses to more than the {size} bytes its idx "
                             "header declares")
    if md5 is not None:
        actual = hashlib.md5(raw).hexdigest()
        if actual != md5:
            raise _md5_error(path, md5, actual, " (decompressed)" if path.suffix == ".gz" else "")
    return parse_idx(raw, str(path))


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def load_fashion_mnist(
    root: str | os.PathLike | None = None, download: bool = True
) -> ImageDataset:
    """Fashion-MNIST: 60000 train / 10000 test, uint8 ``[N, 1, 32, 32]``.

    The 28x28 images are zero-padded by 2 pixels on each side. The four idx files
    (gzipped or not) are taken from the first folder that has all of them among
    ``root``, ``root/fashion-mnist`` and the Debian package's folder, else downloaded into
    ``root/fashion-mnist`` when ``download`` is true. ``mean``/``std`` are computed from the
    padded training images.
    """
    root = data_root(root)
    stems = [stem for stem, _ in FASHION_MNIST_FILES.values()]
    paths = None
    for folder in (root, root / "fashion-mnist", FASHION_MNIST_DEBIAN_DIR):
        found = [_find_idx(folder, stem) for stem in stems]
        if all(found):
            paths = dict(zip(FASHION_MNIST_FILES, found, strict=True))
            break
    downloaded = paths is None
    arrays = {}
    with _no_empty_folders(root / "fashion-mnist"):
        if downloaded:
            paths = _download_fashion_mnist(root / "fashion-mnist", download)
        for key, (_, md5) in FASHION_MNIST_FILES.items():
            try:
                arrays[key] = read_idx(paths[key], md5)
            except ValueError:
                if downloaded:
                    paths[key].unlink(missing_ok=True)
                raise

    splits = []
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise ValueError(f"{paths[split + '_images']}: expected uint8 [N, 28, 28] images")
        if labels.shape != images.shape[:1] or (labels.size and labels.max() > 9):
            raise ValueError(f"{paths[split + '_labels']}: expected {len(images)} labels in 0..9")
        padded = torch.zeros(len(images), 1, 32, 32, dtype=torch.uint8)
        padded[:, 0, 2:30, 2:30] = torch.from_numpy(images)
        splits += [padded, torch.from_numpy(labels.astype(np.int64))]
    mean, std = _channel_stats(splits[0])
    return ImageDataset("fashion_mnist", *splits, FASHION_MNIST_CLASSES, mean, std)


def _download_fashion_mnist(folder: Path, download: bool) -> dict[str, Path]:
    """Paths of the four idx files in ``folder``, downloading the missing ones."""
    names = ", ".join(f"{stem}.gz" for stem, _ in FASHION_MNIST_FILES.values())
    help_text = (
        f"Fashion-MNIST not found. Put {names} (from {FASHION_MNIST_URL}) into {folder} "
        f"or {folder.parent}, or install the Debian package dataset-fashion-mnist (which "
        f"provides {FASHION_MNIST_DEBIAN_DIR}/), or set ${DATA_ENV} or pass root= to the "
        "directory that holds them."
    )
    if not download:
        raise FileNotFoundError(help_text + " (download=False)")
    paths = {}
    for key, (stem, _) in FASHION_MNIST_FILES.items():
        path = _find_idx(folder, stem) or folder / (stem + ".gz")
        if not path.is_file():
            try:
                download_url(FASHION_MNIST_URL + stem + ".gz", path)
            except OSError as err:
                raise FileNotFoundError(
                    help_text + f" Downloading {stem}.gz failed: {err}"
                ) from err
        paths[key] = path
    return paths


# ----------------------------------------------------------------------------- synthetic


def make_synthetic(
    n_train: int = 512,
    n_test: int = 256,
    num_classes: int = 4,
    image_size: int = 32,
    channels: int = 3,
    seed: int = 0,
) -> ImageDataset:
    """A small, deterministic, class-separable image set, uint8 ``[N, channels, S, S]``.

    Each class is a sinusoidal grating with its own pair (orientation, frequency), drawn
    with a random phase (a random shift), contrast and channel weights, plus pixel noise.
    Orientations lie in 0..90 degrees and are mirrored at random, so a horizontal flip maps
    every class onto itself: the crop + flip augmentation keeps labels right. Labels are
    balanced (class counts differ by at most one); the same ``seed`` gives the same set.
    """
    for arg, value, low in [
        ("n_train", n_train, 0), ("n_test", n_test, 0), ("num_classes", num_classes, 2),
        ("image_size", image_size, 4), ("channels", channels, 1),
    ]:  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{arg} must be an int >= {low}, got {value!r}")
    # Class k -> orientation index k % n_angles, frequency index k // n_angles.
    n_angles = math.ceil(math.sqrt(num_classes))
    n_freqs = math.ceil(num_classes / n_angles)
    k = torch.arange(num_classes, dtype=torch.float64)
    angles = (math.pi / 2) * (k % n_angles) / max(n_angles - 1, 1)
    # 3 to 6 periods across the image: coarse enough to survive the networks' downsampling.
    cycles = 3 * 2 ** ((k // n_angles) / max(n_freqs - 1, 1))
    gen = torch.Generator().manual_seed(seed)
    coords = torch.arange(image_size, dtype=torch.float64)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = (torch.arange(n) % num_classes)[torch.randperm(n, generator=gen)]
        sign = torch.randint(0, 2, (n,), generator=gen) * 2 - 1
        angle = (sign * angles[labels])[:, None, None]
        freq = (2 * math.pi * cycles[labels] / image_size)[:, None, None]
        phase = 2 * math.pi * torch.rand(n, 1, 1, generator=gen, dtype=torch.float64)
        wave = torch.sin(freq * (xx * torch.cos(angle) + yy * torch.sin(angle)) + phase)
        contrast = 0.5 + 0.5 * torch.rand(n, 1, 1, 1, generator=gen, dtype=torch.float64)
        weights = 0.5 + 0.5 * torch.rand(n, channels, 1, 1, generator=gen, dtype=torch.float64)
        shape = (n, channels, image_size, image_size)
        noise = 0.25 * torch.randn(shape, generator=gen, dtype=torch.float64)
        x = 0.5 + 0.4 * (contrast * weights * wave[:, None] + noise)
        return (x.clamp(0, 1) * 255).round().to(torch.uint8), labels

    train_x, train_y = split(n_train)
    test_x, test_y = split(n_test)
    mean, std = _channel_stats(train_x) if n_train else ((0.5,) * channels, (0.25,) * channels)
    classes = tuple(
        f"grating {math.degrees(a):.0f}deg {c:.1f}cycles"
        for a, c in zip(angles, cycles, strict=True)
    )
    return ImageDataset("synthetic", train_x, train_y, test_x, test_y, classes, mean, std)


def load_dataset(
    name: str, root: str | os.PathLike | None = None, download: bool = True, **kwargs
) -> ImageDataset:
    """Load a data set by name, one of :data:`DATASETS`.

    ``kwargs`` go to :func:`make_synthetic` (for ``"synthetic"``, which ignores ``root``
    and ``download``); the file-backed sets take none.
    """
    key = name.lower().replace("-", "_") if isinstance(name, str) else name
    if key not in DATASETS:
        raise ValueError(f"name must be one of {', '.join(DATASETS)}; got {name!r}")
    if key == "synthetic":
        return make_synthetic(**kwargs)
    if kwargs:
        raise TypeError(f"load_dataset({key!r}) takes no extra arguments, got {sorted(kwargs)}")
    if key == "fashion_mnist":
        return load_fashion_mnist(root, download)
    return load_cifar(key, root, download)


# ----------------------------------------------------------------------------- batches


def num_batches(n: int, batch_size: int, drop_last: bool) -> int:
    """Number of batches :func:`iterate_batches` yields for ``n`` images."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return n // batch_size if drop_last else -(-n // batch_size)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator that depends on ``(seed, epoch)`` only.

    SeedSequence mixes the pair so that nearby pairs give unrelated streams; a CPU
    generator gives the same numbers whatever device the images are on.
    """
    for arg, value in (("seed", seed), ("epoch", epoch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{arg} must be a non-negative int, got {value!r}")
    state = np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def _crop_flip(
    images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor, pad: int
) -> torch.Tensor:
    """Batched random crop of the zero-padded images and horizontal flip.

    Args:
        images: ``[B, C, H, W]`` (any dtype).
        dy, dx: int64 ``[B]``, crop offsets in ``0 .. 2 * pad`` into the padded image.
        flip: bool ``[B]``, which images to mirror left-right.
    Returns:
        ``[B, C, H, W]``: image ``b`` is ``padded[b, :, dy:dy+H, dx:dx+W]``, mirrored if
        ``flip[b]``.
    """
    b, c, h, w = images.shape
    device = images.device
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))  # [B, C, H+2p, W+2p]
    rows = dy[:, None] + torch.arange(h, device=device)  # [B, H]
    out = padded.gather(2, rows[:, None, :, None].expand(b, c, h, w + 2 * pad))
    cols = torch.arange(w, device=device).expand(b, w)
    # Reading the crop's columns backwards is the flip: no second pass over the pixels.
    cols = dx[:, None] + torch.where(flip[:, None], w - 1 - cols, cols)  # [B, W]
    return out.gather(3, cols[:, None, None, :].expand(b, c, h, w))


def iterate_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    shuffle: bool = False,
    augment: bool = False,
    seed: int = 0,
    epoch: int = 0,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield normalised batches ``(x, y)`` from uint8 images on their own device.

    Each batch is converted to float32 and normalised on its own, so the set is never held
    in float. The order (``shuffle``) and the augmentation (``augment``: random crop of
    the image zero-padded by 4 pixels, then a random horizontal flip with probability 1/2)
    are functions of ``(seed, epoch)`` only, so a run resumed at epoch ``k`` sees the same
    batches as an uninterrupted one.

    Args:
        images: uint8 ``[N, C, H, W]``, on the device to compute on.
        labels: int64 ``[N]``, on the same device.
        batch_size: images per batch; the last batch may be smaller unless ``drop_last``.
        mean, std: per-channel constants in ``[0, 1]`` units (``ImageDataset.mean/std``).
    Yields:
        ``x`` float32 ``[B, C, H, W]`` equal to ``(images / 255 - mean) / std``, and
        ``y`` int64 ``[B]``, both on ``images.device``.
    """
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(
            f"images must be uint8 [N, C, H, W], got {images.dtype} {list(images.shape)}"
        )
    if (
        labels.dtype != torch.int64
        or labels.shape != images.shape[:1]
        or labels.device != images.device
    ):
        raise ValueError(
            f"labels must be int64 [{len(images)}] on {images.device}, got {labels.dtype} "
            f"{list(labels.shape)} on {labels.device}"
        )
    n, c = images.shape[:2]
    count = num_batches(n, batch_size, drop_last)
    if len(mean) != c or len(std) != c:
        raise ValueError(f"mean and std need {c} values (one per channel), got {mean} and {std}")
    gen = _epoch_generator(seed, epoch)
    # Validation above runs at the call; the batches come lazily from the inner generator.
    return _batches(images, labels, batch_size, count, mean, std, gen, shuffle, augment)


def _batches(images, labels, batch_size, count, mean, std, gen, shuffle, augment):
    """The generator behind :func:`iterate_batches` (arguments already checked)."""
    n, c = images.shape[:2]
    device = images.device
    # All random draws of the epoch up front, in a fixed order, so they do not depend on
    # how far a consumer iterates.
    order = torch.randperm(n, generator=gen).to(device) if shuffle else None
    if augment:
        pad = 4
        offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=gen).to(device)
        flips = (torch.rand(n, generator=gen) < 0.5).to(device)
    # Normalise in pixel units: one subtract and one divide per batch.
    shift = torch.tensor(mean, dtype=torch.float32, device=device).view(1, c, 1, 1) * 255
    scale = torch.tensor(std, dtype=torch.float32, device=device).view(1, c, 1, 1) * 255

    for i in range(count):
        sl = slice(i * batch_size, (i + 1) * batch_size)
        idx = sl if order is None else order[sl]
        x, y = images[idx], labels[idx]
        if augment:
            x = _crop_flip(x, offsets[0, sl], offsets[1, sl], flips[sl], pad)
        yield (x.float() - shift) / scale, y
