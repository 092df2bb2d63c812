"""Centre-heatmap box coding for :class:`~explainendo.localize.CenterNetLocalizer` (TTFNet style: Liu et al.,
"Training-Time-Friendly Network for Real-Time Object Detection", AAAI 2020; CenterNet: Zhou et al. 2019).

Pure tensor functions, so the coding can be checked against hand values:

- :func:`encode_targets` turns boxes (pixels of the network input) into a per-class heatmap (an elliptical
  Gaussian at each box centre, peak 1 at the centre cell) and, for every cell near a centre, the box it
  belongs to plus a weight (a Gaussian over the box, so that many cells learn each box: fast training).
- :func:`centernet_loss`: penalty-reduced focal loss on the heatmap + GIoU loss on the boxes decoded at the
  weighted cells.
- :func:`decode` reads boxes back: heatmap peaks (3x3 local maxima) above ``min_score``, the box from the
  distances (left, top, right, bottom) predicted at the peak cell, then class-wise NMS.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

#: Gaussian radius factors (TTFNet's alpha and beta): sigma = factor * side / 6
HEATMAP_ALPHA = 0.54
REGRESSION_BETA = 0.54


def _gaussian(grid: int | tuple[int, int], cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    gh, gw = (grid, grid) if isinstance(grid, int) else grid
    ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32)
    return np.exp(-((xs - cx) ** 2 / (2 * sx * sx) + (ys - cy) ** 2 / (2 * sy * sy)))


def encode_targets(boxes: np.ndarray, classes: np.ndarray, n_classes: int, grid: tuple[int, int],
                   stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training targets for one image.

    ``boxes``: ``(K, 4)`` xyxy in input pixels; ``classes``: ``(K,)`` ints; ``grid``: ``(rows, cols)`` of the
    output map, one cell per ``stride`` input pixels. Returns ``heatmap (C, rows, cols)`` (1 at each centre
    cell, Gaussian around it, max over boxes), ``box_target (4, rows, cols)`` (xyxy of the box a cell
    regresses) and ``weight (rows, cols)`` (the regression weight; 0 where a cell regresses nothing). Where
    boxes overlap, a cell regresses the smaller one.
    """
    gh, gw = grid
    heat = np.zeros((n_classes, gh, gw), dtype=np.float32)
    target = np.zeros((4, gh, gw), dtype=np.float32)
    weight = np.zeros((gh, gw), dtype=np.float32)
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for k in np.argsort(-areas):  # large first, so smaller boxes overwrite the cells they share
        x1, y1, x2, y2 = boxes[k] / stride
        w, h = max(x2 - x1, 1e-3), max(y2 - y1, 1e-3)
        # the centre cell is the one holding the box centre (cell i covers [i, i + 1) in cell units)
        ci = int(np.clip(np.floor((y1 + y2) / 2), 0, gh - 1))
        cj = int(np.clip(np.floor((x1 + x2) / 2), 0, gw - 1))
        g = _gaussian(grid, cj, ci, max(HEATMAP_ALPHA * w / 6, 0.5), max(HEATMAP_ALPHA * h / 6, 0.5))
        g[ci, cj] = 1.0
        c = int(classes[k])
        heat[c] = np.maximum(heat[c], g)
        r = _gaussian(grid, cj, ci, max(REGRESSION_BETA * w / 6, 0.5), max(REGRESSION_BETA * h / 6, 0.5))
        ys, xs = np.mgrid[0:gh, 0:gw]
        inside = (xs + 0.5 >= x1) & (xs + 0.5 <= x2) & (ys + 0.5 >= y1) & (ys + 0.5 <= y2)
        inside[ci, cj] = True
        mask = inside & (r > 0.01)
        # TTFNet weighs a box's cells by log(area), normalised over its cells: big boxes do not drown small ones
        share = r * mask
        share = share / max(share.sum(), 1e-6) * np.log(max(areas[k], 2.0))
        target[:, mask] = boxes[k][:, None]
        weight[mask] = share[mask]
    return heat, target, weight


def cell_centres(grid: tuple[int, int], stride: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Input-pixel coordinates ``(x, y)`` of every output cell's centre, each ``(rows, cols)``."""
    gh, gw = grid
    ys = (torch.arange(gh, device=device, dtype=torch.float32) + 0.5) * stride
    xs = (torch.arange(gw, device=device, dtype=torch.float32) + 0.5) * stride
    return xs[None, :].expand(gh, gw), ys[:, None].expand(gh, gw)


def distances_to_boxes(ltrb: torch.Tensor, stride: int) -> torch.Tensor:
    """``(N, 4, rows, cols)`` distances (left, top, right, bottom; input pixels) -> xyxy boxes, same shape."""
    cx, cy = cell_centres(tuple(ltrb.shape[-2:]), stride, ltrb.device)
    return torch.stack([cx - ltrb[:, 0], cy - ltrb[:, 1], cx + ltrb[:, 2], cy + ltrb[:, 3]], dim=1)


def focal_loss(logits: torch.Tensor, heat: torch.Tensor, alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, averaged over the number of centres (at least 1)."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = heat.eq(1).float()
    neg = 1 - pos
    pos_loss = torch.log(p) * (1 - p) ** alpha * pos
    neg_loss = torch.log(1 - p) * p ** alpha * (1 - heat) ** beta * neg
    return -(pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1.0)


def giou_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - GIoU`` per row of ``(M, 4)`` xyxy boxes."""
    px1, py1, px2, py2 = pred.unbind(1)
    tx1, ty1, tx2, ty2 = target.unbind(1)
    area_p = (px2 - px1).clamp(min=0) * (py2 - py1).clamp(min=0)
    area_t = (tx2 - tx1).clamp(min=0) * (ty2 - ty1).clamp(min=0)
    iw = (torch.min(px2, tx2) - torch.max(px1, tx1)).clamp(min=0)
    ih = (torch.min(py2, ty2) - torch.max(py1, ty1)).clamp(min=0)
    inter = iw * ih
    union = area_p + area_t - inter + 1e-6
    cw = torch.max(px2, tx2) - torch.min(px1, tx1)
    ch = torch.max(py2, ty2) - torch.min(py1, ty1)
    hull = cw * ch + 1e-6
    return 1 - (inter / union - (hull - union) / hull)


def centernet_loss(heat_logits: torch.Tensor, ltrb: torch.Tensor, heat: torch.Tensor, box_target: torch.Tensor,
                   weight: torch.Tensor, stride: int, box_weight: float = 5.0) -> tuple[torch.Tensor, dict]:
    """Heatmap focal loss + ``box_weight`` x weighted GIoU loss (TTFNet's weighting); returns the total and
    its parts (floats) for the history."""
    hm = focal_loss(heat_logits, heat)
    mask = weight > 0
    if mask.any():
        boxes = distances_to_boxes(ltrb, stride).permute(0, 2, 3, 1)[mask]
        tgt = box_target.permute(0, 2, 3, 1)[mask]
        w = weight[mask]
        box = (giou_loss(boxes, tgt) * w).sum() / w.sum().clamp(min=1e-6)
    else:
        box = heat_logits.sum() * 0.0
    return hm + box_weight * box, {"heatmap_loss": float(hm.detach()), "box_loss": float(box.detach())}


def merge_flip(heat_logits: torch.Tensor, ltrb: torch.Tensor, flip_logits: torch.Tensor,
               flip_ltrb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip test-time augmentation: ``(heat_logits, ltrb)`` of a batch and ``(flip_logits, flip_ltrb)`` of the
    same batch mirrored left-right -> merged ``(heat_logits, ltrb)``.

    Mirroring an input of ``cols`` cells maps cell ``j`` onto cell ``cols - 1 - j`` exactly (cell centres at
    ``(j + 0.5) * stride``), and a box's left distance onto its right one; so the mirrored outputs are flipped
    back along the columns with left and right swapped, then averaged: the heatmap as probabilities (returned
    as logits again, which ``decode`` reads), the distances as they are.
    """
    p = (torch.sigmoid(heat_logits) + torch.sigmoid(flip_logits.flip(-1))) / 2
    back = flip_ltrb.flip(-1)[:, [2, 1, 0, 3]]
    return torch.logit(p, eps=1e-6), (ltrb + back) / 2


def decode(heat_logits: torch.Tensor, ltrb: torch.Tensor, stride: int, min_score: float = 0.05,
           max_boxes: int = 20, nms_iou: float = 0.6) -> list[list[tuple[float, float, float, float, float, int]]]:
    """Boxes per image: ``(x1, y1, x2, y2, score, class)`` in input pixels, best first.

    A box is a cell that is the maximum of its 3x3 neighbourhood in its class's heatmap with a sigmoid score
    of at least ``min_score``; its box comes from the distances predicted at that cell. At most
    ``max_boxes`` per image survive class-wise NMS at ``nms_iou``.
    """
    from torchvision.ops import batched_nms

    scores = torch.sigmoid(heat_logits)
    peaks = scores * (F.max_pool2d(scores, 3, stride=1, padding=1) == scores)
    boxes = distances_to_boxes(ltrb, stride)
    n, c, gh, gw = scores.shape
    out = []
    for i in range(n):
        flat = peaks[i].reshape(-1)
        k = min(max_boxes * 4, flat.numel())
        top, idx = flat.topk(k)
        keep = top >= min_score
        top, idx = top[keep], idx[keep]
        cls = idx // (gh * gw)
        cell = idx % (gh * gw)
        b = boxes[i].reshape(4, -1)[:, cell].T
        if len(b):
            kept = batched_nms(b, top, cls, nms_iou)[:max_boxes]
            b, top, cls = b[kept], top[kept], cls[kept]
        out.append([(float(x1), float(y1), float(x2), float(y2), float(s), int(k_))
                    for (x1, y1, x2, y2), s, k_ in zip(b.tolist(), top.tolist(), cls.tolist())])
    return out
