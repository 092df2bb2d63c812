"""Presets that wire the engine into the published systems (imported lazily from ``explainendo``)."""
