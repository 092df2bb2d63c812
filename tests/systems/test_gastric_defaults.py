"""GastricDiagnoser()'s defaults are the configurations whose figures the docs give: the predictor is the
hybrid of the phantom benchmark's command (docs/benchmarks.md, "Gastric phantoms on the engine"), the
localizer that of examples/gastric_phantoms.yaml ("The preset's default localizer"). If a default drifts,
these fail, and the figures must be re-measured before the docs say they describe the defaults."""

from pathlib import Path

from explainendo import GastricDiagnoser
from explainendo.bench import BenchPreset, gastric_phantom_contenders
from explainendo.components import encode_value
from explainendo.config import build_model, read_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_default_predictor_is_the_benchmarked_hybrid():
    # explainendo bench phantoms --image-size 128 --epochs 14 --holdout 0.5 --threads 2 --sole-backbones '' --seed S
    for seed in (0, 2):
        preset = BenchPreset(seed=seed, image_size=128, epochs=14, holdout=0.5, num_threads=2, sole_backbones=())
        benchmarked = gastric_phantom_contenders(preset)["hybrid"]
        default = GastricDiagnoser(seed=seed).checked_parts()[1]
        assert encode_value(default) == encode_value(benchmarked)


def test_default_localizer_is_the_measured_one():
    example = build_model(read_config(EXAMPLES / "gastric_phantoms.yaml")).checked_parts()[0]
    default = GastricDiagnoser(seed=0).checked_parts()[0]
    assert encode_value(default) == encode_value(example)


def test_a_changed_default_is_seen():
    # the comparison above can fail: one epoch more is a different configuration
    preset = BenchPreset(seed=0, image_size=128, epochs=15, holdout=0.5, num_threads=2, sole_backbones=())
    assert encode_value(GastricDiagnoser().checked_parts()[1]) != encode_value(
        gastric_phantom_contenders(preset)["hybrid"])


def test_gpu_preset_is_the_defaults_on_cuda():
    from explainendo.training import Training

    def on_cpu(value):
        if isinstance(value, dict):
            return {k: ("cpu" if k == "device" else on_cpu(v)) for k, v in value.items()}
        return [on_cpu(v) for v in value] if isinstance(value, list) else value

    gpu = build_model(read_config(EXAMPLES / "own_data" / "own_data_gpu.yaml"))
    assert gpu.checked_parts()[0].training.device == "cuda"
    assert isinstance(gpu.checked_parts()[1].sources[0].training, Training)
    for part in (0, 1):
        assert on_cpu(encode_value(gpu.checked_parts()[part])) == encode_value(GastricDiagnoser().checked_parts()[part])
