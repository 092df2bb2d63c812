import json

import numpy as np

from explainendo.types import Box, Diagnosis, describe_group


def test_diagnosis_to_dict_is_strict_json_even_with_missing_features():
    box = Box(1, 2, 30, 40, score=0.9)
    d = Diagnosis(image="a.png", label="neoplastic", probability=0.8, probabilities={"neoplastic": 0.8,
                  "non_neoplastic": 0.2}, box=box, boxes=[box], features={"tone.p_reddened": 0.7, "lbp.hist_0": np.nan},
                  lesions=[{"box": box, "label": "neoplastic", "features": {"lbp.hist_0": np.nan}}], fitter="svm")
    out = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert out["features"]["lbp.hist_0"] is None and out["box"]["x2"] == 30
    assert out["lesions"][0]["box"]["score"] == 0.9
    assert "neoplastic (p=0.80" in d.summary()
    assert "no lesion" in Diagnosis(image="b.png", no_lesion=True, message="m").summary()


def test_describe_group_in_plain_words():
    f = {"tone.p_unchanged": 0.1, "tone.p_reddened": 0.83, "tone.p_pale": 0.07, "bleeding.p_yes": 0.2,
         "size_mm.value": 12.0, "surface.rough": 1.0, "surface.smooth": 0.0, "lbp.hist_0": 0.1, "lbp.hist_1": 0.3}
    assert describe_group("tone", f) == "reddened (0.83)"
    assert describe_group("bleeding", f) == "p(yes) = 0.20"
    assert describe_group("size_mm", f) == "12"
    assert describe_group("surface", f) == "rough"
    assert describe_group("lbp", f) == "2 values"
    assert describe_group("absent", f) == "unknown"
