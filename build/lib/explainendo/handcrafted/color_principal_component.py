"""Dominant colours in a principal-component colour space (ENDOANGEL-ED handcrafted feature 2)."""

from __future__ import annotations

import numpy as np

from .base import Extractor, Param, PreparedCrop, register_extractor

#: Ohta, Kanade and Sakai's I1 I2 I3 transform (rows), the fixed approximation of the Karhunen-Loeve
#: (principal-component) transform of natural-image RGB they derived from eight scenes:
#: I1 = (R + G + B) / 3, I2 = (R - B) / 2, I3 = (2G - R - B) / 4.
OHTA = np.array([[1 / 3, 1 / 3, 1 / 3],
                 [1 / 2, 0.0, -1 / 2],
                 [-1 / 4, 1 / 2, -1 / 4]])


def crop_pca_basis(pixels: np.ndarray) -> np.ndarray:
    """Rows = eigenvectors of the crop's 3 x 3 RGB covariance, by decreasing eigenvalue.

    The sign of each eigenvector is fixed so that its largest-magnitude loading is positive (an
    eigenvector's sign is otherwise arbitrary and would flip columns between crops).
    """
    covariance = np.cov(pixels, rowvar=False, bias=True) if len(pixels) > 1 else np.zeros((3, 3))
    values, vectors = np.linalg.eigh(covariance)
    basis = vectors[:, np.argsort(values)[::-1]].T
    signs = np.sign(basis[np.arange(3), np.abs(basis).argmax(axis=1)])
    return basis * signs[:, None]


def kmeans_centres(points: np.ndarray, k: int, iterations: int, rng: np.random.Generator) -> np.ndarray:
    """Lloyd's k-means from a deterministic, spread-out start; returns ``(k', d)`` centres.

    Initialisation: the points at the ``(j + 1/2) / k`` quantiles of the first channel (brightness I1 in the
    Ohta space), a one-axis form of PCA-Part initialisation (Su and Dy 2007). Unlike k-means++ it uses no
    random draw, so the result does not jump between seeds: on 100 Kvasir-SEG crops the mean change of
    ``pc1_median`` between two seeds fell from 0.055 (k-means++ seeding) to 0.012 (the subsample still
    depends on the seed), and its mean distance to a 4096-point, 100-iteration run of the same method from
    0.031 to 0.015, at the same cost.

    Quantile points that coincide (large areas of one exact colour, e.g. specular highlights) are merged
    and the missing centres are added by k-means++ draws (Arthur and Vassilvitskii 2007: probability
    proportional to the squared distance to the nearest centre, from ``rng``). When every point already
    coincides with a centre, at most ``k'`` < ``k`` distinct colours exist and each is its own cluster
    (what k-means converges to), so uniform and few-colour crops stay defined without empty clusters.
    Lloyd iterations stop early when no assignment changes; a cluster that empties keeps its previous
    centre (deterministic, no re-seeding).
    """
    # at n ~ 500 points and k = 10 the cost is the number of numpy calls, not the arithmetic: channel-major
    # (d, n) coordinates, one draw call, and a one-hot matmul for the cluster sums (np.add.at is far slower)
    coords = np.ascontiguousarray(points.T)
    dims, n = coords.shape
    order = np.argsort(coords[0], kind="stable")
    start = np.unique(points[order[((np.arange(k) + 0.5) * n / k).astype(np.int64)]], axis=0)
    centres = np.empty((k, dims))
    found = len(start)
    centres[:found] = start
    # exact differences (not the |p|^2 - 2 p.c + |c|^2 expansion): a point equal to a centre must give
    # exactly 0, or seeding could pick a duplicate colour through rounding residue
    closest = ((coords[None, :, :] - start[:, :, None]) ** 2).sum(axis=1).min(axis=0)
    if found < k:
        draws = rng.random(k)  # one call, not one per centre
        for j in range(found, k):
            cumulative = np.cumsum(closest)
            if cumulative[-1] <= 0.0:  # every point is already a centre: fewer distinct colours than k
                break
            pick = min(int(np.searchsorted(cumulative, draws[j] * cumulative[-1], side="right")), n - 1)
            centres[j] = points[pick]
            np.minimum(closest, ((coords - centres[j][:, None]) ** 2).sum(axis=0), out=closest)
            found += 1
    centres = centres[:found]
    # Lloyd steps: |c|^2 - 2 c.p ranks centres like |p - c|^2 (|p|^2 is common to all); one-hot matmul
    # sums the points of each cluster in one call
    cluster_ids = np.arange(found)[:, None]
    labels = None
    for _ in range(iterations):
        new_labels = ((centres * centres).sum(axis=1)[:, None] - 2.0 * (centres @ coords)).argmin(axis=0)
        if labels is not None and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        one_hot = (labels[None, :] == cluster_ids).astype(np.float64)
        counts = one_hot.sum(axis=1)
        filled = counts > 0
        centres[filled] = (one_hot @ points)[filled] / counts[filled, None]
    return centres


@register_extractor("color_principal_component")
class ColorPrincipalComponent(Extractor):
    """The paper's "spectral principal component of colour": median dominant colour in a PC colour space.

    ENDOANGEL-ED describes it as: project pixels to a principal-component colour space, find 10 dominant
    colours by k-means, take each cluster's mean in the three channels and the median over the clusters.
    That wording leaves two choices open; this implementation makes them as follows.

    1. **Which principal-component space.** Default ``space: ohta``: the fixed Ohta I1 I2 I3 transform
       (``I1 = (R+G+B)/3``, ``I2 = (R-B)/2``, ``I3 = (2G-R-B)/4``, RGB in [0, 1]), which Ohta et al. derived as
       the stable approximation of the principal components of natural-image colour. It is the same
       basis for every crop, so ``pc2_median`` means "red minus blue" on every row, which a fitter and a
       SHAP plot need. A per-crop PCA (``space: crop_pca``, eigenvectors of the crop's own colour
       covariance, sign fixed so the largest loading is positive, uncentred projection) is offered as
       the literal reading, but its axes change from crop to crop, so its columns are not comparable
       across lesions.
    2. **Which median.** The unweighted median over the ``n_colors`` cluster centres, per channel: each
       dominant colour counts once whatever its area (the paper speaks of the median over clusters, and
       this makes the value robust to one large background cluster). A crop with fewer distinct colours
       than ``n_colors`` uses each distinct colour as a cluster.

    Formula: ``c_j = mean of the pixels in cluster j`` (in the chosen space), ``pc{i}_median =
    median_j c_j[i]`` for ``i = 1, 2, 3``.

    Speed: k-means runs on at most ``max_samples`` pixels drawn without replacement from the shared
    colour subsample by a generator seeded with ``seed`` (the same for every crop, so a crop's value does
    not depend on its position in a batch), from a deterministic quantile start (see
    :func:`kmeans_centres`) with at most ``iterations`` Lloyd steps.

    Precision: the median of k-means centres is not a precise statistic. On 100 Kvasir-SEG crops
    ``pc1_median`` lies on average 0.015 from a 4096-pixel, 100-iteration run (its spread across crops is
    0.115) and moves by 0.012 between seeds; ``max_samples`` and ``iterations`` trade cost for stability.

    References: Ohta Y., Kanade T., Sakai T., "Color information for region segmentation", Computer
    Graphics and Image Processing 13, 1980; Su T., Dy J.G., "In search of deterministic methods for
    initializing K-means and Gaussian mixture clustering", Intelligent Data Analysis 11, 2007;
    Arthur D., Vassilvitskii S., "k-means++", SODA 2007;
    ENDOANGEL-ED (npj Digit Med 2023) feature "spectral principal component of colour".

    Columns: ``color_principal_component.pc1_median``, ``.pc2_median``, ``.pc3_median``.
    """

    params = {
        "space": Param("ohta", str, "principal-component colour space: ohta (fixed) or crop_pca (per crop)",
                       choices=("ohta", "crop_pca")),
        "n_colors": Param(10, int, "number of dominant colours k (k-means clusters)", minimum=1, maximum=64),
        "max_samples": Param(512, int, "pixels k-means runs on (a seeded subsample)", minimum=16,
                             maximum=1_000_000),
        "iterations": Param(10, int, "at most this many Lloyd iterations", minimum=1, maximum=300),
        "seed": Param(0, int, "seed of the pixel subsample (and of k-means++ draws for merged starts)", minimum=0),
    }

    def column_names(self) -> list[str]:
        return ["pc1_median", "pc2_median", "pc3_median"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        rng = np.random.default_rng(self.config["seed"])
        pixels = crop.color_pixels
        if len(pixels) > self.config["max_samples"]:
            pixels = pixels[np.sort(rng.choice(len(pixels), self.config["max_samples"], replace=False))]
        basis = OHTA if self.config["space"] == "ohta" else crop_pca_basis(pixels)
        projected = pixels @ basis.T
        centres = kmeans_centres(projected, self.config["n_colors"], self.config["iterations"], rng)
        return np.median(centres, axis=0)
