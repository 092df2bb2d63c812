"""The explanation card a clinician reads: the frame with the box, the attribute probabilities, a
waterfall of group contributions in plain words ("tone: reddened (0.83), +0.21"), where the localizer
looked for the box (its saliency over the frame: EigenCAM or D-RISE) and the Grad-CAM heatmaps of the
attribute heads. Rendered with matplotlib (PNG) or as one self-contained HTML file with
the images embedded as base64 (no external files, no scripts). Attributes a clinician corrected
(``Diagnoser.intervene``, ``Lesion.interventions``) are marked "set by clinician" and the diagnosis "after
correction".
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from ..errors import ConfigError

POSITIVE, NEGATIVE = "#c0392b", "#2471a3"


def _waterfall(ax, explanation, top: int) -> None:
    rows = explanation.contributions()
    if not rows:
        ax.text(0.5, 0.5, f"no named features: a CNN ({explanation.explainer});\nsee the heatmap below",
                ha="center", va="center", fontsize=8)
        ax.axis("off")
        return
    shown, rest = rows[:top], rows[top:]
    if rest:
        shown = shown + [(f"{len(rest)} other groups", "", float(sum(v for _, _, v in rest)))]
    start = explanation.expected_value
    labels, lefts, widths = [], [], []
    corrected = _interventions(explanation)
    for g, words, v in shown:
        words = f"{words}, {CORRECTED}" if g in corrected else words
        labels.append(f"{g}: {words}, {v:+.2f}" if words else f"{g}, {v:+.2f}")
        lefts.append(start)
        widths.append(v)
        start += v
    y = np.arange(len(shown))[::-1]
    ax.barh(y, widths, left=lefts, color=[POSITIVE if w > 0 else NEGATIVE for w in widths], height=0.6)
    ax.set_yticks(y, labels, fontsize=7)
    ends = np.array(lefts + [l + w for l, w in zip(lefts, widths)] + [explanation.expected_value])
    pad = 0.05 * max(float(ends.max() - ends.min()), 1e-6)
    ax.set_xlim(float(ends.min()) - pad, float(ends.max()) + pad)
    ax.axvline(explanation.expected_value, color="grey", lw=0.8, ls="--")
    ax.axvline(explanation.output, color="black", lw=0.8)
    ax.set_xlabel(f"{explanation.space} of '{explanation.explained_class}'  "
                  f"(base {explanation.expected_value:.2f} -> {explanation.output:.2f})", fontsize=7)
    ax.set_title(f"why: {group_method(explanation)} by feature group", fontsize=9)
    ax.tick_params(axis="x", labelsize=7)


def group_method(explanation, detail: bool = False) -> str:
    """How the card's group contributions were computed, in words: exact group Shapley values
    (``explain(..., group_values="exact")``) or per-feature SHAP values summed per group; ``detail`` adds the
    explainer (and, for exact values, the background they were computed against)."""
    from .group_shapley import EXACT_EXPLAINER_PREFIX

    if explanation.explainer.startswith(EXACT_EXPLAINER_PREFIX):
        return f"exact group Shapley values by feature group: {explanation.explainer}" if detail else \
            "exact group Shapley values"
    return f"SHAP ({explanation.explainer} explainer) summed by feature group" if detail else "SHAP values summed"


#: what the card says of an attribute a clinician set (``Diagnoser.intervene``)
CORRECTED = "set by clinician"


def _interventions(explanation) -> dict[str, str]:
    """The attributes a clinician set on the explained lesion (empty for a task's explanation: the task's
    prediction was not re-made)."""
    return {} if explanation.task else dict(explanation.lesion.interventions)


def _attribute_bars(ax, explanation) -> None:
    probs = explanation.attribute_probabilities()
    if not probs:
        ax.text(0.5, 0.5, "no attribute heads", ha="center", va="center", fontsize=8)
        ax.axis("off")
        return
    # per attribute, the most likely class only: the card stays readable with a 26-class landmark head
    best: dict[str, tuple[str, float]] = {}
    for key, p in probs.items():
        attr, cls = key.split(".p_", 1)
        if np.isfinite(p) and (attr not in best or p > best[attr][1]):
            best[attr] = (cls, float(p))
    names = list(best)
    corrected = _interventions(explanation)
    y = np.arange(len(names))[::-1]
    ax.barh(y, [best[n][1] for n in names], height=0.6,
            color=["#d68910" if n in corrected else "#7d3c98" for n in names])
    ax.set_yticks(y, [f"{n}: {best[n][0]}" + (f" ({CORRECTED})" if n in corrected else "") for n in names],
                  fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_title("attributes (most likely class)" + ("; orange: set by a clinician" if corrected else ""), fontsize=9)
    ax.tick_params(axis="x", labelsize=7)


def _frame(ax, explanation) -> None:
    from matplotlib.patches import Rectangle

    d, lesion = explanation.result, explanation.lesion
    frame = explanation.frame if explanation.frame is not None else d.frame
    if frame is not None:
        ax.imshow(frame)
    for i, other in enumerate(d.lesions):
        b = other.box
        ax.add_patch(Rectangle((b.x1, b.y1), b.width, b.height, fill=False, lw=2,
                               color="yellow" if i == explanation.lesion_index else "white"))
    after = " after correction" if _interventions(explanation) else ""
    unlike = "\nunlike the training data (OOD)" if (d.ood or lesion.ood) else ""
    ax.set_title(f"{lesion.label}  p={lesion.probability:.2f}{after}  ({d.predictor}){unlike}", fontsize=9)
    ax.axis("off")


#: the title of the localizer's saliency panel (followed by the method's name)
LOCALIZER_PANEL = "where the localizer looked"


def _frame_maps(explanation) -> list[tuple[str, np.ndarray]]:
    """The frame-sized maps the card draws before the crop's Grad-CAMs: where the localizer looked (its saliency
    for the lesion's box) and the localizer's own output map (the ERCP soft mask)."""
    out = []
    if getattr(explanation, "localizer_saliency", None) is not None:
        method = explanation.localizer_saliency_method or "saliency"
        heat = explanation.localizer_box_heat()
        share = f"\n{heat['heat']:.0%} of the heat in the box ({heat['area']:.0%} of the frame)" \
            if heat and np.isfinite(heat.get("heat", np.nan)) else ""
        out.append((f"{LOCALIZER_PANEL} ({method}){share}", explanation.localizer_saliency))
    if getattr(explanation, "localizer_map", None) is not None:
        out.append(("the localizer's output map", explanation.localizer_map))
    return out


def _frame_map(ax, explanation, title: str, heat) -> None:
    from matplotlib.patches import Rectangle

    frame = explanation.frame if explanation.frame is not None else explanation.result.frame
    if frame is not None:
        ax.imshow(frame)
        ax.imshow(np.asarray(heat, dtype=float), cmap="jet", alpha=0.45,
                  extent=(-0.5, frame.shape[1] - 0.5, frame.shape[0] - 0.5, -0.5))
    else:
        ax.imshow(np.asarray(heat, dtype=float), cmap="jet")
    b = explanation.lesion.box
    ax.add_patch(Rectangle((b.x1, b.y1), b.width, b.height, fill=False, lw=1.5, color="white"))
    ax.set_title(title, fontsize=7)
    ax.axis("off")


def render_card(explanation, top: int = 10):
    """The card as a matplotlib Figure."""
    import matplotlib.pyplot as plt

    cams = explanation.gradcams
    frame_maps = _frame_maps(explanation)
    n_cams = len(cams) + len(frame_maps)
    fig = plt.figure(figsize=(15, 7.5 if n_cams else 4.5))
    grid = fig.add_gridspec(2 if n_cams else 1, 3, height_ratios=[2, 1] if n_cams else [1],
                            width_ratios=[1, 0.8, 1.3], wspace=0.95, hspace=0.3)
    _frame(fig.add_subplot(grid[0, 0]), explanation)
    _attribute_bars(fig.add_subplot(grid[0, 1]), explanation)
    _waterfall(fig.add_subplot(grid[0, 2]), explanation, top)
    if n_cams:
        sub = grid[1, :].subgridspec(1, n_cams, wspace=0.05)
        crop = explanation.crop
        for i, (title, heat) in enumerate(frame_maps):
            _frame_map(fig.add_subplot(sub[0, i]), explanation, title, heat)
        for i, (attr, cam) in enumerate(cams.items(), start=len(frame_maps)):
            ax = fig.add_subplot(sub[0, i])
            if crop is not None:
                ax.imshow(crop)
                ax.imshow(np.asarray(cam, dtype=float), cmap="jet", alpha=0.45,
                          extent=(-0.5, crop.shape[1] - 0.5, crop.shape[0] - 0.5, -0.5))
            else:
                ax.imshow(np.asarray(cam, dtype=float), cmap="jet")
            ax.set_title(f"Grad-CAM: {attr}", fontsize=7)
            ax.axis("off")
    fig.suptitle(f"explainendo: {image_name(explanation.result.image)}", fontsize=10)
    fig.text(0.5, 0.005, INTENDED_USE, ha="center", va="bottom", fontsize=8, color="#555555")
    return fig


#: printed on every card (PNG and HTML): what the output is, and is not, for
INTENDED_USE = ("Research use only. explainendo is not a medical device; this output is not a diagnosis and must "
                "not guide patient care.")


def image_name(image) -> str:
    """What a card names the image by: its file name, never the folders above it (a card is shared; a path
    can carry a patient's name or a hospital's directory layout). Arrays and frames keep their label."""
    text = "" if image is None else str(image)
    return Path(text).name if ("/" in text or "\\" in text) else text


def card_png(explanation, top: int = 10, dpi: int = 110) -> bytes:
    import matplotlib.pyplot as plt

    fig = render_card(explanation, top=top)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def card_html(explanation, top: int = 10) -> str:
    """One self-contained HTML page: the card image (base64) plus the same facts as text tables."""
    d, lesion = explanation.result, explanation.lesion
    png = base64.b64encode(card_png(explanation, top=top)).decode("ascii")
    esc = html.escape
    rows = "".join(f"<tr><td>{esc(g)}</td><td>{esc(w)}</td><td style='color:{POSITIVE if v > 0 else NEGATIVE}'>"
                   f"{v:+.3f}</td></tr>" for g, w, v in explanation.contributions())
    attrs = "".join(f"<tr><td>{esc(k)}</td><td>{v:.3f}</td></tr>"
                    for k, v in explanation.attribute_probabilities().items())
    box = ", ".join(f"{v:.0f}" for v in lesion.box.to_xyxy())
    corrected = _interventions(explanation)
    correction = ("<p><b>Corrected by a clinician</b> (the diagnosis was made again from these): "
                  + ", ".join(f"{esc(a)} = {esc(c)}" for a, c in corrected.items()) + ".</p>") if corrected else ""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>explainendo card: {esc(image_name(d.image))}</title>
<style>body{{font-family:sans-serif;max-width:1300px;margin:1em auto}}td{{padding:2px 8px}}
table{{border-collapse:collapse;margin:1em 0}}tr:nth-child(even){{background:#f4f4f4}}</style></head>
<body><h2>{esc(str(lesion.label))} (p = {lesion.probability:.3f}){' after correction' if corrected else ''}{' <span style="color:#b00">unlike the training data (OOD)</span>' if (d.ood or lesion.ood) else ''}</h2>
{correction}
<p>image <code>{esc(image_name(d.image))}</code>; box (x1, y1, x2, y2) {esc(box)}; predictor <b>{esc(str(d.predictor))}</b>;
{esc(group_method(explanation, detail=True))}, on the {esc(explanation.space)} of
'{esc(explanation.explained_class)}': base {explanation.expected_value:.3f} -> {explanation.output:.3f}.</p>
<img alt="explanation card" style="max-width:100%" src="data:image/png;base64,{png}">
<h3>Contributions by feature group</h3><table><tr><th>group</th><th>value</th><th>contribution</th></tr>{rows}</table>
<h3>Attribute probabilities</h3><table>{attrs or '<tr><td>none</td></tr>'}</table>
{_localizer_html(explanation)}
<p style="color:#555"><small>{esc(INTENDED_USE)}</small></p>
</body></html>
"""


def _localizer_html(explanation) -> str:
    heat = explanation.localizer_box_heat() if getattr(explanation, "localizer_saliency", None) is not None else {}
    if not heat:
        return ""
    return (f"<h3>{html.escape(LOCALIZER_PANEL.capitalize())} ({html.escape(str(explanation.localizer_saliency_method))})"
            f"</h3><p>{heat['heat']:.3f} of the saliency lies in the lesion's box, which covers {heat['area']:.3f} of "
            f"the frame (ratio {heat['ratio']:.2f}; 1: no preference for the box).</p>")


def save_card(explanation, path, top: int = 10) -> Path:
    """Write ``path`` as ``.png`` or ``.html`` (chosen by the suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".png":
        path.write_bytes(card_png(explanation, top=top))
    elif suffix in (".html", ".htm"):
        path.write_text(card_html(explanation, top=top), encoding="utf-8")
    else:
        raise ConfigError(f"cannot write a card as {suffix!r}", source=str(path), hint="use .png or .html")
    return path
