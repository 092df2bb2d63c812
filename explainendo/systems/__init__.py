"""Presets wiring the engine into published systems, and the sole-DL baseline (``sole_dl``)."""
