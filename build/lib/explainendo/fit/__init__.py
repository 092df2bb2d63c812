"""Interpretable fitters (LR, DT, SVM, xgboost), their selection and the selection of feature groups, both by
patient-grouped cross-validation."""

from .fitters import FITTERS, fitter_name, list_fitters, make_fitter
from .group_selection import GroupEliminator
from .selection import DEFAULT_CANDIDATES, FitterSelector

from ..components import register_component

register_component("fitter_selector")(FitterSelector)
register_component("group_eliminator")(GroupEliminator)

__all__ = ["FITTERS", "make_fitter", "list_fitters", "fitter_name", "FitterSelector", "DEFAULT_CANDIDATES",
           "GroupEliminator"]
