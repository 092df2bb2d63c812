"""EUS phantoms whose findings carry their own evidence (issue 22): ``p_oligocystic`` and ``p_thin_wall``.

The defaults must draw the phantoms of before the options, bit for bit; with the options the attributes say what
was drawn, locularity and wall no longer decide the label alone, and the look-alikes still differ in principle.
"""

import hashlib

import cv2
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from explainendo.cli import app

from explainendo.errors import ConfigError
from explainendo.synth import eus, generate
from explainendo.synth.phantoms import generator_options

# recorded with the generator as it was before the options (OpenCV 4.14.0, NumPy 2.4.6): 16 frames, seed 4, 96 px,
# p_calcification=0.5, p_scar=0.6, label_noise=0.1; pixels and masks, then the table as CSV. The pixels depend on the
# CPU's vector kernels (OpenCV's float filters dispatch on them): one digest per kernel level, each recorded with the
# generator of before the options (90554c1^) on that CPU -- AVX2 on an AMD EPYC VM, AVX512 on an Intel Xeon VM
# (2026-12-07; the same digest from the code of now there)
_BEFORE_PIXELS = {"AVX2": "7000d5a1a4edfca415101a9401a1e327c7fff5493023cfef5c20cdaf8417d498",
                  "AVX512": "9896643ed2edca4d390b0d6ea66ea77a80722705af7f0ce1131bdb94a555df99"}
_BEFORE_TABLE = "4a5b586e157d6071139b00d5ea862d793a1e93af167a0c214b21dd297ada0df0"
_BEFORE_VERSIONS = ("4.14.0", "2.4.6")
# label, cyst type, calcification, central scar, septa (first letters) of the same 16 frames
_BEFORE_ROWS = ["ssyyy", "mmnny", "mmnnn", "mmynn", "mmynn", "ssnyy", "ssnny", "mmnnn", "mmynn", "ssnyy", "mmynn",
                "mmnnn", "mmynn", "ssnny", "ssyyy", "mmynn"]


def _draw(**options):
    return eus.generate_eus(16, 4, 96, p_calcification=0.5, p_scar=0.6, label_noise=0.1, **options)


def _digests(images, table, masks):
    pixels = hashlib.sha256()
    for image in images:
        pixels.update(image.tobytes())
    for mask in masks:
        pixels.update(np.packbits(mask).tobytes())
    return {"pixels": pixels.hexdigest(), "table": hashlib.sha256(table.to_csv(index=False).encode()).hexdigest()}


def _rows(table):
    cols = ["label", "attr.cyst_type", "attr.calcification", "attr.central_scar", "attr.septa"]
    return ["".join(str(v)[0] for v in row) for row in table[cols].itertuples(index=False)]


def test_defaults_draw_the_phantoms_of_before_bit_for_bit():
    images, table, masks, _ = _draw()
    assert _rows(table) == _BEFORE_ROWS
    assert (table["attr.locularity"] == np.where(table["attr.cyst_type"] == "mucinous", "unilocular",
                                                 "microcystic")).all()
    assert (table["attr.wall"] == np.where(table["attr.cyst_type"] == "mucinous", "thick", "thin")).all()
    explicit = _draw(p_oligocystic=0.0, p_thin_wall=0.0)
    assert _digests(*explicit[:3]) == _digests(images, table, masks)
    digests = _digests(images, table, masks)
    assert digests["table"] == _BEFORE_TABLE
    import torch

    kernels = torch.backends.cpu.get_cpu_capability()  # the level OpenCV dispatches on too
    if (cv2.__version__, np.__version__) != _BEFORE_VERSIONS or kernels not in _BEFORE_PIXELS:
        pytest.skip(f"pixel digests recorded with OpenCV / NumPy {_BEFORE_VERSIONS} on {sorted(_BEFORE_PIXELS)} "
                    f"kernels (here {kernels})")
    assert digests["pixels"] == _BEFORE_PIXELS[kernels]


def test_options_keep_each_patient_and_record_what_is_drawn():
    _, plain, _, _ = eus.generate_eus(200, 1, 64, label_noise=0.1)
    _, table, _, _ = eus.generate_eus(200, 1, 64, label_noise=0.1, p_oligocystic=0.5, p_thin_wall=0.4)
    same = ["label", "attr.cyst_type", "attr.calcification", "attr.central_scar", "patient"]
    assert table[same].equals(plain[same])  # type, findings and label flip per patient do not move
    serous, mucinous = table["attr.cyst_type"] == "serous", table["attr.cyst_type"] == "mucinous"
    oligo = serous & (table["attr.locularity"] == "unilocular")
    thin = mucinous & (table["attr.wall"] == "thin")
    assert oligo.sum() / serous.sum() == pytest.approx(0.5, abs=0.15)
    assert thin.sum() / mucinous.sum() == pytest.approx(0.4, abs=0.15)
    assert (table.loc[serous, "attr.wall"] == "thin").all() and (table.loc[mucinous, "attr.locularity"]
                                                                 == "unilocular").all()
    # locularity and wall no longer decide the type; the findings now do where they are present
    unilocular_thin = (table["attr.locularity"] == "unilocular") & (table["attr.wall"] == "thin")
    assert set(table.loc[unilocular_thin, "attr.cyst_type"]) == {"mucinous", "serous"}
    assert (table.loc[unilocular_thin & (table["attr.central_scar"] == "yes"), "attr.cyst_type"] == "serous").all()
    eggshell = unilocular_thin & (table["attr.calcification"] == "yes") & (table["attr.central_scar"] == "no")
    assert eggshell.any() and (table.loc[eggshell, "attr.cyst_type"] == "mucinous").all()
    assert set(table.loc[oligo, "attr.septa"]) == {"no", "yes"}  # a septum only sometimes, as in a mucinous cyst
    with_options = generate("eus", 20, seed=0, size=64, label_noise=0.1, p_oligocystic=0.3, p_thin_wall=0.3)
    assert with_options.bayes_rate == pytest.approx(0.9)  # the label is still what is drawn


def _solidity(mask):
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = max(contours, key=cv2.contourArea)
    return cv2.contourArea(c) / cv2.contourArea(cv2.convexHull(c))


def _wall(img, mask):
    """The 90th percentile of grey in a band across the outline (the wall or rim)."""
    m = mask.astype(np.uint8)
    band = (cv2.dilate(m, np.ones((5, 5), np.uint8)) > 0) & (cv2.erode(m, np.ones((7, 7), np.uint8)) == 0)
    return float(np.percentile(img[..., 0][band], 90))


def test_look_alikes_look_unilocular_yet_differ_in_principle():
    walls, lobes = [], []
    for seed in range(6):
        oligo, omask, _ = eus.render_eus("serous", False, False, np.random.default_rng(seed), 192, oligocystic=True)
        thin, tmask, _ = eus.render_eus("mucinous", False, False, np.random.default_rng(seed), 192, thin_wall=True)
        for img, mask in ((oligo, omask), (thin, tmask)):  # an anechoic lumen: no honeycomb
            inner = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
            assert (img[..., 0][inner] > 100).mean() < 0.15
        walls.append(_wall(thin, tmask) - _wall(oligo, omask))
        lobes.append(_solidity(tmask) - _solidity(omask))
        assert lobes[-1] > 0  # the oligocystic outline is lobulated, the mucinous one round
    assert np.mean(walls) > 15 and min(walls) > 0  # the thin mucinous wall is still brighter than the serous rim
    assert np.mean(lobes) > 0.01


def test_eggshell_calcification_shows_on_a_thin_wall():
    for seed in range(3):
        calc, mask, _ = eus.render_eus("mucinous", True, False, np.random.default_rng(seed), 160, thin_wall=True)
        plain, _, _ = eus.render_eus("mucinous", False, False, np.random.default_rng(seed), 160, thin_wall=True)
        near = cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        assert (calc[..., 0][near] > 200).sum() > (plain[..., 0][near] > 200).sum()


def test_options_are_checked_and_reach_the_cli():
    assert {"p_oligocystic", "p_thin_wall"} <= set(generator_options("eus"))
    for bad in ({"p_oligocystic": 1.5}, {"p_thin_wall": -0.1}, {"p_scar": 2}):
        with pytest.raises(ConfigError):
            generate("eus", 2, size=64, **bad)


def test_cli_writes_look_alikes(tmp_path):
    out = tmp_path / "eus"
    run = CliRunner().invoke(app, ["synth", "eus", "--n", "12", "--size", "64", "--out", str(out),
                                   "-o", "p_oligocystic=1", "-o", "p_thin_wall=1"])
    assert run.exit_code == 0, run.output
    table = pd.read_csv(out / "manifest.csv")
    assert (table["attr.locularity"] == "unilocular").all() and (table["attr.wall"] == "thin").all()
