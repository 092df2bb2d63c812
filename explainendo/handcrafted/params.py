"""The handcrafted parameter file: which extractors run and how (pyradiomics-style params YAML).

Layout (``default_params.yaml`` next to this module is the reference)::

    extractors: [aspect_ratio, color_principal_component, ...]   # which run, in this order
    preprocess: {working_size: 96, max_color_pixels: 16384}      # shared crop preparation
    colour_constancy: {method: none, p: 6.0, reference: frame}   # before every extractor (colour_constancy.py)
    <extractor name>: {<param>: <value>, ...}                    # one section per extractor

:func:`load_params` merges a partial file or dict over the defaults and validates everything: an unknown
key or a bad value raises :class:`~explainendo.errors.ConfigError` naming the key (``lbp.points``) and what
is wrong, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..errors import ConfigError
from .base import EXTRACTORS, Param
from .colour_constancy import PARAMS as COLOUR_CONSTANCY_PARAMS

DEFAULT_PARAMS_PATH = Path(__file__).with_name("default_params.yaml")
#: The colonoscopy frame-quality suite (sharpness, motion blur, highlights, fluid colour, exposure) at 256 px.
FRAME_QUALITY_PARAMS_PATH = Path(__file__).with_name("frame_quality_params.yaml")

#: The paper's order of the six ENDOANGEL-ED features; the default ``extractors`` list.
DEFAULT_EXTRACTORS = ("aspect_ratio", "color_principal_component", "hsi_saturation_entropy", "lbp", "hog",
                      "color_moments")

PREPROCESS_PARAMS = {
    "working_size": Param(96, int, "longer side of the grey working image used by LBP and HOG", minimum=8,
                          maximum=4096),
    "max_color_pixels": Param(16384, int, "colour statistics use a grid subsample of at most this many pixels",
                              minimum=64, maximum=100_000_000),
}


def _defaults() -> dict[str, Any]:
    params: dict[str, Any] = {"extractors": list(DEFAULT_EXTRACTORS),
                              "preprocess": {k: p.default for k, p in PREPROCESS_PARAMS.items()},
                              "colour_constancy": {k: p.default for k, p in COLOUR_CONSTANCY_PARAMS.items()}}
    for name in EXTRACTORS.list():
        params[name] = {k: p.default for k, p in EXTRACTORS.get(name).params.items()}
    return params


def load_params(path_or_dict: str | Path | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A complete, validated parameter dict from a YAML path, a (partial) dict, or ``None`` (defaults).

    Sections and keys not given take their defaults; ``extractors`` given replaces the default list.
    Raises ``ConfigError`` for an unreadable file, an unknown section, extractor or key, or a value of the
    wrong type or out of range, naming the offending key.
    """
    source: Any = "handcrafted params"
    if path_or_dict is None:
        given: Any = {}
    elif isinstance(path_or_dict, (str, Path)):
        source = Path(path_or_dict)
        try:
            given = yaml.safe_load(source.read_text())
        except OSError as error:
            raise ConfigError(f"cannot read the params file ({error.strerror})", source=str(source),
                              hint="give the path of a YAML params file") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"not valid YAML: {error}", source=str(source),
                              hint="fix the YAML syntax (see default_params.yaml)") from None
        given = {} if given is None else given
    else:
        given = path_or_dict
    if not isinstance(given, Mapping):
        raise ConfigError(f"params must be a mapping of sections, got {type(given).__name__}", source=source,
                          hint="see explainendo/handcrafted/default_params.yaml")
    params = _defaults()
    known_sections = {"extractors", "preprocess", "colour_constancy", *EXTRACTORS.list()}
    sections = {"preprocess": PREPROCESS_PARAMS, "colour_constancy": COLOUR_CONSTANCY_PARAMS}
    for section, values in given.items():
        if section not in known_sections:
            raise ConfigError(f"unknown section {section!r}", source=source,
                              hint=f"known sections: {', '.join(sorted(known_sections))}")
        if section == "extractors":
            params["extractors"] = _check_extractor_list(values, source)
            continue
        if values is None:
            continue
        if not isinstance(values, Mapping):
            raise ConfigError(f"{section}: must be a mapping of parameters, got {values!r}", source=source,
                              hint=f"write '{section}: {{}}' for the defaults")
        specs = sections[section] if section in sections else EXTRACTORS.get(section).params
        for key, value in values.items():
            if key not in specs:
                known = ", ".join(sorted(specs)) or "none"
                raise ConfigError(f"unknown key {section}.{key}", source=source, hint=f"{section} accepts: {known}")
            problem = specs[key].check(value)
            if problem:
                raise ConfigError(f"bad value for {section}.{key}: {problem}", source=source,
                                  hint=specs[key].doc)
            params[section][key] = value.item() if hasattr(value, "item") else value
    for name in params["extractors"]:  # checks that span several keys live in the extractor's constructor
        try:
            EXTRACTORS.get(name)(**params.get(name, {}))
        except ConfigError as error:
            raise ConfigError(f"bad values for {name}: {error.reason}", source=source, hint=error.hint) from None
    return copy.deepcopy(params)


def _check_extractor_list(values: Any, source: Any) -> list[str]:
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise ConfigError(f"extractors: must be a list of extractor names, got {values!r}", source=source,
                          hint=f"e.g. [{', '.join(EXTRACTORS.list())}]")
    if not values:
        raise ConfigError("extractors: the list is empty", source=source, hint="select at least one extractor")
    for name in values:
        if not isinstance(name, str) or name not in EXTRACTORS:
            raise ConfigError(f"extractors: unknown extractor {name!r}", source=source,
                              hint=f"known: {', '.join(EXTRACTORS.list())}")
    if len(set(values)) != len(values):
        raise ConfigError(f"extractors: a name is listed twice in {list(values)}", source=source,
                          hint="list each extractor once")
    return list(values)
