"""The default out-of-distribution flag of a fitted system (issue 24.6), checked the same way in each system's
end-to-end test: every result and lesion carries it, the system's own held-out phantoms are mostly not flagged,
noise is (the frame check)."""

import numpy as np

from explainendo.explain.ood import OODDetector


def check_default_ood(model, results, *, most_pass: float = 0.75, size: int = 96) -> dict:
    """Assert the above on ``results`` (the model's predictions of its held-out phantoms); the shares flagged."""
    assert model.get_params()["ood"] == "default"
    assert isinstance(model.ood_, OODDetector) and model.ood_.embedding == "efficientnet_lite0"
    ok = [r for r in results if r.ok]
    assert ok and all(r.ood is not None and r.ood_score is not None for r in ok)
    assert all(les.ood is not None and les.ood_score is not None for r in ok for les in r.lesions)
    assert all("ood" in r.to_dict() for r in ok)
    shares = {"frame": float(np.mean([bool(r.ood) for r in ok])),
              "either": float(np.mean([bool(r.ood or any(les.ood for les in r.lesions)) for r in ok]))}
    assert shares["frame"] <= 1.0 - most_pass and shares["either"] <= 1.0 - most_pass, shares
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(4)]
    assert all(r.ood for r in model.predict(noise)), "noise frames must be flagged"
    return shares
