"""Contact sheets: a grid of phantoms with their boxes and labels, to eyeball a generator's output."""

from __future__ import annotations

import numpy as np


def contact_sheet(phantoms, n: int = 24, cols: int = 6, thumb: int = 160, boxes: bool = True,
                  captions: bool = True, caption_columns: tuple[str, ...] = ("label",)) -> np.ndarray:
    """An RGB uint8 grid of the first ``n`` phantoms, each resized to ``thumb`` px, box drawn in green and
    the ``caption_columns`` values written underneath."""
    import cv2

    n = min(n, len(phantoms))
    rows = -(-n // cols)
    cap_h = 14 if captions else 0
    sheet = np.zeros((rows * (thumb + cap_h), cols * thumb, 3), np.uint8)
    for i in range(n):
        image = phantoms.images[i]
        scale = thumb / image.shape[1]
        tile = cv2.resize(image, (thumb, int(round(image.shape[0] * scale))), interpolation=cv2.INTER_AREA)
        row = phantoms.table.iloc[i]
        if boxes and all(k in row and row[k] == row[k] for k in ("x1", "y1", "x2", "y2")):
            p1 = (int(row["x1"] * scale), int(row["y1"] * scale))
            p2 = (int(row["x2"] * scale) - 1, int(row["y2"] * scale) - 1)
            cv2.rectangle(tile, p1, p2, (60, 230, 90), 1, cv2.LINE_AA)
        r, c = divmod(i, cols)
        y0, x0 = r * (thumb + cap_h), c * thumb
        sheet[y0:y0 + tile.shape[0], x0:x0 + thumb] = tile[:thumb]
        if captions:
            text = " ".join(str(row[k]) for k in caption_columns if k in row and row[k] == row[k])
            while text and cv2.getTextSize(text, cv2.FONT_HERSHEY_PLAIN, 0.8, 1)[0][0] > thumb - 6:
                text = text[:-1]
            cv2.putText(sheet, text, (x0 + 3, y0 + thumb + 11), cv2.FONT_HERSHEY_PLAIN, 0.8,
                        (230, 230, 230), 1, cv2.LINE_AA)
    return sheet


def save_sheet(sheet: np.ndarray, path, colors: int = 0) -> None:
    """Write a sheet as PNG; ``colors`` > 0 quantises to a palette (much smaller files for docs)."""
    import cv2

    if colors:
        from PIL import Image

        Image.fromarray(sheet).quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    else:
        cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
