"""Temperature-and-bias calibration of a head's class probabilities on held-out labelled lesions.

A head trained with class-balanced losses and augmentation ranks well (AUC 0.998 on the gastric phantoms'
surface head) yet puts its 0.5 line in the wrong place (accuracy 0.92-0.97): its probabilities are not
frequencies. The fitter reads them as numbers, and the explanation card shows them to a clinician, so both
are better off calibrated. The map is ``softmax(log p / T + b)`` (Guo et al., ICML 2017, with a bias per
class, Kull et al. 2019): ``T`` and ``b`` (``b[0] = 0``) minimise the log loss on lesions the head did not
train on. For two classes this is Platt scaling of the logit. ``K`` parameters per head, so a few hundred
lesions are plenty; a tiny L2 on ``b`` keeps a class that is absent from the calibration set at no shift.
"""

from __future__ import annotations

import numpy as np

#: fewer labelled lesions than this (or a single class) and a head is left uncalibrated
MIN_LESIONS = 20
_EPS = 1e-6
#: a head that separates its calibration lesions perfectly would have the log loss drive T to 0 (hard 0/1
#: probabilities that a single later error makes infinitely wrong): T stays within [e^-2, e^3] = [0.14, 20]
LOG_TEMPERATURE_BOUNDS = (-2.0, 3.0)


def _log_probs(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1.0))


def _log_calibrated(logp: np.ndarray, temperature: float, bias) -> np.ndarray:
    from scipy.special import log_softmax

    return log_softmax(logp / temperature + np.asarray(bias, dtype=np.float64), axis=1)


def apply_temperature_bias(probs: np.ndarray, params: dict) -> np.ndarray:
    """Calibrated probabilities (rows with NaN stay NaN)."""
    out = np.exp(_log_calibrated(_log_probs(probs), float(params["temperature"]), params["bias"]))
    out[np.isnan(np.asarray(probs, dtype=np.float64)).any(axis=1)] = np.nan
    return out


def fit_temperature_bias(probs: np.ndarray, labels: np.ndarray, l2: float = 1e-3) -> dict:
    """``{"temperature", "bias", "n", "log_loss_before", "log_loss_after"}`` from ``probs`` (n, K) and
    integer ``labels`` (n,) in ``0..K-1``."""
    from scipy.optimize import minimize

    logp = _log_probs(probs)
    labels = np.asarray(labels, dtype=int)
    n, k = logp.shape
    rows = np.arange(n)

    def loss(theta):
        z = _log_calibrated(logp, np.exp(theta[0]), np.concatenate([[0.0], theta[1:]]))
        return float(-np.mean(z[rows, labels]) + l2 * np.sum(theta[1:] ** 2))

    before = loss(np.zeros(k))
    found = minimize(loss, np.zeros(k), method="L-BFGS-B", bounds=[LOG_TEMPERATURE_BOUNDS] + [(-20.0, 20.0)] * (k - 1))
    theta = found.x if found.fun <= before else np.zeros(k)  # never worse than the identity
    return {"temperature": float(np.exp(theta[0])), "bias": [0.0] + [float(v) for v in theta[1:]], "n": int(n),
            "log_loss_before": round(before, 6), "log_loss_after": round(float(min(found.fun, before)), 6)}


def fit_head_calibration(probs: np.ndarray, labels: np.ndarray) -> dict | None:
    """:func:`fit_temperature_bias` on the rows with a label (``labels >= 0``) and finite probabilities; None
    when fewer than ``MIN_LESIONS`` such rows or a single class (the head then stays as it is)."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=int)
    keep = (labels >= 0) & np.isfinite(probs).all(axis=1)
    if keep.sum() < MIN_LESIONS or len(np.unique(labels[keep])) < 2:
        return None
    return fit_temperature_bias(probs[keep], labels[keep])
