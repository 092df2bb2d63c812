"""The params YAML: defaults, partial overrides, selection, and errors naming the bad key."""

from pathlib import Path

import pytest
import yaml

from explainendo.errors import ConfigError
from explainendo.handcrafted import (DEFAULT_PARAMS_PATH, extract, get_extractor, list_extractors, load_params)

import numpy as np


def test_registry_lists_the_six_extractors():
    assert set(list_extractors()) >= {"aspect_ratio", "color_principal_component", "hsi_saturation_entropy",
                                      "lbp", "hog", "color_moments"}
    assert list_extractors("color*") == ["color_moments", "color_principal_component"]
    assert get_extractor("lbp").name == "lbp"
    with pytest.raises(ConfigError, match="unknown handcrafted extractor 'lpb'"):
        get_extractor("lpb")


def test_default_yaml_equals_the_code_defaults():
    assert load_params(DEFAULT_PARAMS_PATH) == load_params(None)
    assert load_params(None)["extractors"] == ["aspect_ratio", "color_principal_component",
                                               "hsi_saturation_entropy", "lbp", "hog", "color_moments"]


def test_partial_dict_and_yaml_file_override_and_select(tmp_path: Path):
    params = load_params({"lbp": {"points": 16, "radius": 2}})
    assert params["lbp"] == {"points": 16, "radius": 2}
    assert params["hog"]["orientations"] == 9  # untouched defaults stay
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"extractors": ["hog", "lbp"], "hog": {"orientations": 6}}))
    frame = extract([np.zeros((10, 10, 3), np.uint8)], params=path)
    # the selection and its order define the columns: 6 + 2 HOG columns, then 8 + 2 + 3 LBP columns
    assert list(frame.columns[:8]) == [f"hog.bin_{b}" for b in range(6)] + ["hog.entropy", "hog.mean_magnitude"]
    assert list(frame.columns[8:]) == [f"lbp.hist_{k}" for k in range(10)] + ["lbp.mean", "lbp.std", "lbp.entropy"]


@pytest.mark.parametrize("given, named", [
    ({"lbpp": {}}, "unknown section 'lbpp'"),
    ({"lbp": {"pointz": 8}}, "unknown key lbp.pointz"),
    ({"lbp": {"points": -1}}, "bad value for lbp.points: must be >= 4"),
    ({"lbp": {"points": 8.5}}, "bad value for lbp.points: must be a int"),
    ({"lbp": {"points": True}}, "bad value for lbp.points"),
    ({"lbp": {"radius": "1"}}, "bad value for lbp.radius: must be a float"),
    ({"hog": {"orientations": 1}}, "bad value for hog.orientations"),
    ({"color_principal_component": {"space": "lab"}}, "bad value for color_principal_component.space"),
    ({"preprocess": {"working_size": 0}}, "bad value for preprocess.working_size"),
    ({"aspect_ratio": {"anything": 1}}, "unknown key aspect_ratio.anything"),
    ({"extractors": ["hog", "hogg"]}, "unknown extractor 'hogg'"),
    ({"extractors": []}, "the list is empty"),
    ({"extractors": "hog"}, "must be a list"),
    ({"extractors": ["hog", "hog"]}, "listed twice"),
    ({"lbp": [8, 1]}, "lbp: must be a mapping"),
    ([1, 2], "must be a mapping of sections"),
])
def test_bad_params_name_the_key(given, named):
    with pytest.raises(ConfigError, match=named.replace("(", r"\(").replace(")", r"\)")):
        load_params(given)


def test_bad_files(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_params(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("lbp: {points: [8\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(broken)
    typo = tmp_path / "typo.yaml"
    typo.write_text("hog:\n  cell_sise: 8\n")
    with pytest.raises(ConfigError, match="typo.yaml.*unknown key hog.cell_sise"):
        load_params(typo)


def test_a_new_extractor_registers_and_is_validated_like_the_built_in_ones():
    from explainendo.handcrafted import Extractor, Param, register_extractor
    from explainendo.handcrafted.base import EXTRACTORS

    if "test_redness_ratio" not in EXTRACTORS:
        @register_extractor("test_redness_ratio")
        class RednessRatio(Extractor):
            """``mean(R) / (mean(R) + mean(G) + mean(B) + eps)``."""
            params = {"eps": Param(1e-6, float, "added to the denominator", minimum=0.0)}

            def column_names(self):
                return ["value"]

            def compute(self, crop):
                mean = crop.channels.mean(axis=1)
                return [mean[0] / (mean.sum() + self.config["eps"])]

    crop = np.zeros((2, 2, 3), np.uint8)
    crop[..., 0] = 255  # pure red: 1 / (1 + 0 + 0) = 1
    frame = extract([crop], params={"extractors": ["test_redness_ratio"], "test_redness_ratio": {"eps": 0.0}})
    assert list(frame.columns) == ["test_redness_ratio.value"]
    assert frame.iloc[0, 0] == 1.0
    with pytest.raises(ConfigError, match="test_redness_ratio.eps"):
        load_params({"test_redness_ratio": {"eps": -1.0}})


def test_a_saved_extractor_set_names_only_its_own_sections(tmp_path):
    """A folder saved while an unused extractor is registered loads where it is not (the saved params hold the
    selected extractors' sections only)."""
    import yaml

    from explainendo.handcrafted import Extractor, HandcraftedFeatures, register_extractor
    from explainendo.handcrafted.base import EXTRACTORS

    if "test_unused_extractor" not in EXTRACTORS:
        @register_extractor("test_unused_extractor")
        class Unused(Extractor):
            def column_names(self):
                return ["value"]

            def compute(self, crop):
                return [0.0]

    HandcraftedFeatures(params={"extractors": ["aspect_ratio", "lbp"]}).save(tmp_path / "hc")
    saved = yaml.safe_load((tmp_path / "hc" / "component.yaml").read_text())["params"]["params"]
    assert set(saved) == {"extractors", "preprocess", "colour_constancy", "aspect_ratio", "lbp"}
    assert saved["extractors"] == ["aspect_ratio", "lbp"]
