"""The README's demo: end to end at toy size (phantoms -> GastricDiagnoser -> held-out accuracy -> card), and
at its real settings and seed, where its accuracy must stay above a floor."""

from rich.console import Console

import pytest

from explainendo.demo import DEMO, DEMO_ACCURACY_FLOOR, run_gastric_demo

TINY = {"n": 64, "size": 128, "test_fraction": 0.25,
        "localizer": {**DEMO["localizer"], "image_size": 64, "training": {"epochs": 1, "batch_size": 16}},
        "heads": {**DEMO["heads"], "backbone": "resnet18", "pretrained": False, "image_size": 32,
                  "training": {"epochs": 1, "batch_size": 32, "num_threads": 1}},
        "cv": 2}


def test_demo_trains_diagnoses_held_out_patients_and_writes_a_card(tmp_path):
    console = Console(record=True, width=120)
    result = run_gastric_demo(tmp_path, console, TINY)
    text = console.export_text()
    assert abs(result["bayes_rate"] - 0.890) < 0.01  # the toy run's accuracy has no floor: the next test has one
    assert "Bayes rate (best possible)" in text and f"{result['accuracy']:.3f}" in text
    assert result["card"].read_bytes()[:4] == b"\x89PNG"
    assert "<html" in (tmp_path / "card.html").read_text().lower()
    assert (tmp_path / "model" / "component.yaml").is_file()
    # the default OOD flag is on every result: the held-out phantoms are mostly not flagged
    assert result["ood_flagged"] is not None and result["ood_flagged"]["frame"] <= 0.25 and "(OOD)" in text


@pytest.mark.slow
def test_demo_at_its_settings_reaches_its_accuracy_floor(tmp_path):
    result = run_gastric_demo(tmp_path, Console(record=True, width=120))
    assert result["accuracy"] >= DEMO_ACCURACY_FLOOR, result
    assert {"tone", "surface", "boundary"} <= set(result["kept_groups"])  # the rule's strongest attributes
