"""Movement smoothness: SPARC and LDLJ of a speed profile.

SPARC — spectral arc length of the normalised Fourier magnitude spectrum of a speed
profile, with an adaptive cut-off (Balasubramanian, Melendez-Calderon, Roby-Brami, Burdet,
"On the analysis of movement smoothness", J NeuroEng Rehabil 12:112, 2015). LDLJ — log
dimensionless jerk of the same profile (Hogan & Sternad 2009; Balasubramanian et al. 2015).
Both are negative; closer to zero is smoother. References reproduced in the tests: a
Gaussian speed ``exp(-5 t^2)``, t in [-1, 1), 100 Hz -> SPARC -1.41403, LDLJ -5.81636; a
minimum-jerk profile -> SPARC -1.406 at any duration.
"""

from __future__ import annotations

import numpy as np


def sparc(speed: np.ndarray, fs_hz: float, *, padlevel: int = 4, cutoff_hz: float = 10.0,
          amplitude_threshold: float = 0.05) -> float:
    """Spectral arc length of a speed profile (any unit; it is normalised).

    Parameters
    ----------
    speed : (N,) speed samples (e.g. |angular rate|, rad/s), uniformly sampled
    fs_hz : sampling rate, Hz
    padlevel : zero padding to ``2 ** (ceil(log2 N) + padlevel)`` points
    cutoff_hz : highest frequency considered, Hz
    amplitude_threshold : the spectrum is cut where it falls below this (normalised)

    Returns
    -------
    float
        SPARC (dimensionless, <= 0); NaN for fewer than 3 samples or a zero profile.
    """
    v = np.asarray(speed, dtype=float)
    if v.size < 3 or not np.all(np.isfinite(v)) or not np.any(v):
        return float("nan")
    nfft = int(2 ** (np.ceil(np.log2(v.size)) + padlevel))
    f = np.arange(nfft) * fs_hz / nfft
    mag = np.abs(np.fft.fft(v, nfft))
    mag = mag / mag.max()
    sel = f <= cutoff_hz
    f, mag = f[sel], mag[sel]
    above = np.flatnonzero(mag >= amplitude_threshold)
    f, mag = f[above[0]: above[-1] + 1], mag[above[0]: above[-1] + 1]
    if f.size < 2:
        return 0.0
    df = np.diff(f) / (f[-1] - f[0])
    return float(-np.sum(np.sqrt(df ** 2 + np.diff(mag) ** 2)))


def ldlj(speed: np.ndarray, fs_hz: float) -> float:
    """Log dimensionless jerk of a speed profile: ``-ln(T^3 / v_peak^2 * int (dv^2/dt^2)^2 dt)``."""
    v = np.asarray(speed, dtype=float)
    if v.size < 5 or not np.all(np.isfinite(v)) or not np.any(v):
        return float("nan")
    dt = 1.0 / fs_hz
    T = v.size * dt  # duration as N samples x dt (matches the published reference values)
    jerk = np.diff(v, 2) / dt ** 2
    integral = np.sum(jerk ** 2) * dt
    return float(-np.log(T ** 3 / np.max(np.abs(v)) ** 2 * integral))
