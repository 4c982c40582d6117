"""NumPy transcriptions of the official DiffStride repository's layers (REFERENCE §2-§3).

Written from the description of the official TensorFlow code, including its quirks
(the fftshift position rule for the height, the "+1" in the width threshold), so the
tests can check that hybridlib reproduces it exactly for even sizes.
"""

from __future__ import annotations

import math

import numpy as np


def fixed_spectral_pooling(x: np.ndarray, s_h: float, s_w: float) -> np.ndarray:
    """The official FixedSpectralPooling: [..., H, W] -> [..., h, w]."""
    height, width = x.shape[-2:]
    # floor(H / S) as TensorFlow's floordiv computes it for floats (Python's exact
    # float `//` gives 32 // 3.2 == 9 instead).
    h = math.floor(height / s_h)
    h -= h % 2
    h = max(h, 2)
    w = max(math.floor(width / s_w), 2)
    spectrum = np.fft.rfft2(x)
    kept = np.concatenate(
        (spectrum[..., : h // 2, : w // 2 + 1], spectrum[..., height - h // 2 :, : w // 2 + 1]),
        axis=-2,
    )
    return np.fft.irfft2(kept, s=(h, w))


def diffstride(x: np.ndarray, s_h: float, s_w: float, smoothness: float = 4.0) -> np.ndarray:
    """The official DiffStride forward pass (cropping on): [..., H, W] -> [..., h, w]."""
    height, width = x.shape[-2:]
    r = smoothness
    s_h = max(s_h, height / (height - r), 1.0)
    s_w = max(s_w, width / (width - r), 1.0)
    t_h = max(height / s_h, 2.0) / 2
    t_w = max(width / s_w, 2.0) / 2 + 1

    def mask(threshold, positions):
        return np.clip((r + threshold - positions) / r, 0.0, 1.0)

    v = np.arange(math.ceil(height / 2), dtype=np.float64)
    pos_h = np.fft.fftshift(np.concatenate((v[height % 2 :][::-1], v)))
    pos_w = np.arange(width // 2 + 1, dtype=np.float64)
    m_h, m_w = mask(t_h, pos_h), mask(t_w, pos_w)
    spectrum = np.fft.rfft2(x) * m_h[:, None] * m_w[None, :]
    rows, cols = np.nonzero(m_h > 0)[0], np.nonzero(m_w > 0)[0]
    return np.fft.irfft2(spectrum[..., rows, :][..., cols])
