"""Attribute specifications shared by the phantom generator, the attribute heads and the diagnosers.

Binary attributes list the negative class first, so ``<attribute>.p_<second class>`` is the probability
of the finding. The landmark table (26 sites of a complete oesophago-gastro-duodenoscopy, as in the
ENDOANGEL site-coverage work) and its mapping to the three ENDOANGEL-ED location classes are data:
pass your own to :func:`location_of` or to the heads to override them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .components import register_component


@register_component("attribute_spec")
@dataclass(frozen=True)
class AttributeSpec:
    """One attribute: its ``name``, its ``classes`` (order fixes the output columns), and what it sees.

    ``input`` is ``"crop"`` (the lesion crop) or ``"frame"`` (the whole frame, e.g. the landmark head).
    ``description`` is the plain-words sentence used on explanation cards.
    """

    name: str
    classes: tuple[str, ...]
    input: str = "crop"
    description: str = ""

    def __post_init__(self):
        object.__setattr__(self, "classes", tuple(self.classes))  # a list read back from YAML
        if len(self.classes) < 2:
            raise ValueError(f"attribute '{self.name}' needs at least two classes")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"attribute '{self.name}' has duplicate classes {self.classes}")
        if self.input not in ("crop", "frame"):
            raise ValueError(f"attribute '{self.name}': input must be 'crop' or 'frame'")

    @property
    def columns(self) -> list[str]:
        return [f"{self.name}.p_{c}" for c in self.classes]

    @property
    def is_binary(self) -> bool:
        return len(self.classes) == 2


def parse_attribute_value(spec: AttributeSpec, value) -> int | None:
    """The class index an ``attr.<name>`` cell means: -1 for unknown (empty, NaN or one of the manifest's
    unknown tokens), the index of a class name (whitespace and case ignored: ``Reddened`` is ``reddened``),
    or an integer index ``0 .. k-1`` (``1``, ``1.0``, ``"1"``); None when it is none of these (an error
    for the caller to report with its row)."""
    import math

    from .io.manifest import UNKNOWN_TOKENS

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return -1
    try:
        import pandas as pd

        if value is pd.NA:
            return -1
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in UNKNOWN_TOKENS:
            return -1
        folded = {c.lower(): i for i, c in enumerate(spec.classes)}
        if text.lower() in folded:
            return folded[text.lower()]
        try:
            value = float(text)
        except ValueError:
            return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number.is_integer() and 0 <= int(number) < len(spec.classes):
        return int(number)
    return None


GASTRIC_LANDMARKS: tuple[str, ...] = (
    "oesophagus", "squamocolumnar_junction",
    "antrum_greater_curvature", "antrum_posterior_wall", "antrum_anterior_wall", "antrum_lesser_curvature",
    "pylorus", "duodenal_bulb", "descending_duodenum",
    "angulus_antegrade", "angulus_retroflex",
    "lower_body_greater_curvature", "lower_body_posterior_wall", "lower_body_anterior_wall",
    "lower_body_lesser_curvature",
    "middle_upper_body_greater_curvature", "middle_upper_body_posterior_wall",
    "middle_upper_body_anterior_wall", "middle_upper_body_lesser_curvature",
    "middle_upper_body_lesser_curvature_retroflex", "middle_upper_body_posterior_wall_retroflex",
    "middle_upper_body_anterior_wall_retroflex",
    "fundus", "cardia_retroflex", "cardia_antegrade", "gastric_lumen_unclear",
)
assert len(GASTRIC_LANDMARKS) == 26

LOCATIONS: tuple[str, ...] = ("upper_middle", "lower", "indistinguishable")

#: landmark -> ENDOANGEL-ED location class (upper-middle stomach / lower stomach / indistinguishable)
LANDMARK_TO_LOCATION: dict[str, str] = {
    **{k: "indistinguishable" for k in ("oesophagus", "squamocolumnar_junction", "duodenal_bulb",
                                        "descending_duodenum", "gastric_lumen_unclear")},
    **{k: "lower" for k in GASTRIC_LANDMARKS if k.startswith(("antrum", "pylorus", "angulus", "lower_body"))},
    **{k: "upper_middle" for k in GASTRIC_LANDMARKS if k.startswith(("middle_upper", "fundus", "cardia"))},
}
assert set(LANDMARK_TO_LOCATION) == set(GASTRIC_LANDMARKS)


def location_of(landmark: str, table: dict[str, str] | None = None) -> str:
    """The location class of a landmark (``table`` overrides :data:`LANDMARK_TO_LOCATION`)."""
    table = LANDMARK_TO_LOCATION if table is None else table
    try:
        return table[landmark]
    except KeyError:
        raise KeyError(f"unknown landmark '{landmark}'; known: {sorted(table)}") from None


#: The seven ENDOANGEL-ED deep attributes. Manifest columns are ``attr.<name>``.
GASTRIC_ATTRIBUTES: tuple[AttributeSpec, ...] = (
    AttributeSpec("bleeding", ("no", "yes"), description="spontaneous bleeding"),
    AttributeSpec("elevation", ("no", "yes"), description="elevated lesion"),
    AttributeSpec("depression", ("no", "yes"), description="depressed lesion"),
    AttributeSpec("boundary", ("unclear", "clear"), description="clear boundary"),
    AttributeSpec("surface", ("smooth", "rough"), description="rough surface"),
    AttributeSpec("tone", ("unchanged", "reddened", "pale"), description="colour tone"),
    AttributeSpec("landmark", GASTRIC_LANDMARKS, input="frame",
                  description="anatomical landmark (mapped to location)"),
)

#: Gastric image-level labels (negative first).
GASTRIC_LABELS: tuple[str, ...] = ("non_neoplastic", "neoplastic")


#: The papilla attributes the ERCP difficulty hybrid names (Kim et al., Sci Rep 2021, discuss them as what makes
#: cannulation hard; the ERCP phantoms draw exactly these). Size, position and a diverticulum beside the papilla
#: are read from the whole frame (a crop resized to the network loses the papilla's size and where it lies, and
#: a diverticulum lies outside the papilla's box); protrusion and the hooding fold from the crop.
ERCP_ATTRIBUTES: tuple[AttributeSpec, ...] = (
    AttributeSpec("papilla_size", ("small", "medium", "large"), input="frame", description="papilla size"),
    AttributeSpec("protrusion", ("flat", "protruding"), description="protruding papilla"),
    AttributeSpec("position", ("central", "off_centre"), input="frame", description="papilla off the frame centre"),
    AttributeSpec("diverticulum", ("no", "yes"), input="frame", description="periampullary diverticulum"),
    AttributeSpec("hooding_fold", ("short", "long"), description="long hooding (oral protrusion) fold"),
)

#: ERCP cannulation difficulty: the paper's binary task and its four classes (easy < over 5 min < additional
#: technique < failure); ``difficult`` = any of the last three.
ERCP_BINARY_LABELS: tuple[str, ...] = ("easy", "difficult")
ERCP_DIFFICULTY_CLASSES: tuple[str, ...] = ("easy", "over_5_min", "additional_technique", "failure")


#: The EUS cyst attributes the hybrid names (what an endosonographer reads off the cyst; the EUS phantoms draw
#: them): a unilocular cyst with a thick wall suggests a mucinous neoplasm, a microcystic honeycomb with a central
#: scar a serous one; peripheral (eggshell) calcification suggests mucinous, a calcified central scar serous.
EUS_ATTRIBUTES: tuple[AttributeSpec, ...] = (
    AttributeSpec("locularity", ("unilocular", "microcystic"), description="microcystic (honeycomb) pattern"),
    AttributeSpec("wall", ("thin", "thick"), description="thick echogenic cyst wall"),
    AttributeSpec("septa", ("no", "yes"), description="septa inside the cyst"),
    AttributeSpec("calcification", ("no", "yes"), description="calcification"),
    AttributeSpec("central_scar", ("no", "yes"), description="central scar"),
)

#: EUS cyst labels: mucinous cystic neoplasm (MCN) vs serous cystic neoplasm (SCN); ``mucinous`` is the positive
#: class (it may turn malignant: the finding a clinician must not miss).
EUS_LABELS: tuple[str, ...] = ("serous", "mucinous")


def gastric_attribute(name: str) -> AttributeSpec:
    for spec in GASTRIC_ATTRIBUTES:
        if spec.name == name:
            return spec
    raise KeyError(f"no gastric attribute '{name}'")
