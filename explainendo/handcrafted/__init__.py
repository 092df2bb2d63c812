"""The six handcrafted lesion features of ENDOANGEL-ED as a fast, documented extractor suite.

=========================== ======================================================== ==========================
extractor (= column group)  what it measures                                         columns
=========================== ======================================================== ==========================
``aspect_ratio``            box (or mask) width / height                             ``width_over_height``
``color_principal_component`` median of 10 dominant colours in a PC colour space     ``pc{1,2,3}_median``
``hsi_saturation_entropy``  Shannon entropy of HSI saturation                        ``entropy``
``lbp``                     uniform LBP histogram + mean, std, entropy               ``hist_0..hist_{P+1}``, ...
``hog``                     HOG pooled to an orientation distribution                ``bin_0..bin_{B-1}``, ...
``color_moments``           mean, std, skewness per RGB channel                      ``{r,g,b}_{mean,std,skewness}``
``sharpness``               variance of the Laplacian, high-frequency energy         frame quality (colon)
``motion_blur``             blur anisotropy, direction and extent                    frame quality (colon)
``specular_highlights``     highlight and bubble ratios                              frame quality (colon)
``fluid_colour``            yellow-brown fluid share, G/R and B/R, saturation        frame quality (colon)
``exposure``                brightness, contrast, dark and clipped shares            frame quality (colon)
``glcm``                    grey-level co-occurrence (Haralick) statistics           EUS cyst texture
``cyst_echogenicity``       interior, wall and surroundings echo and contrasts       EUS cyst texture
``posterior_enhancement``   brightness below the cyst vs beside it, shadow           EUS cyst texture
``locule_count``            anechoic locules: count, sizes, septal share             EUS cyst texture
``wall_profile``            the ring about the cyst in the radial grey profile       EUS cyst texture
=========================== ======================================================== ==========================

The first six are the defaults (``default_params.yaml``); the five frame-quality extractors are selected by
``frame_quality_params.yaml`` (:data:`FRAME_QUALITY_PARAMS_PATH`), which the colonoscopy system uses; the five
EUS cyst extractors (with ``lbp``) by ``eus_texture_params.yaml`` (:data:`EUS_TEXTURE_PARAMS_PATH`), for crops of
the cyst box enlarged 1.5 times.

Entry points: :func:`extract` (batch function), :class:`HandcraftedFeatures` (feature source and sklearn
transformer), :func:`list_extractors` / :func:`get_extractor` / :func:`register_extractor` (registry),
:func:`load_params` (validated params; defaults in ``default_params.yaml``). Formulas: each extractor's
docstring and ``docs/handcrafted.md``.
"""

from .base import (Extractor, Param, PreparedCrop, UndefinedFeature, get_extractor, list_extractors,
                   register_extractor)
# importing the extractor modules registers them (explicit, in the paper's order)
from . import (aspect_ratio, color_principal_component, hsi_saturation_entropy, lbp, hog,  # noqa: F401,I001
               color_moments)
# the colonoscopy frame-quality extractors (FRAME_QUALITY_PARAMS_PATH selects them)
from . import sharpness, motion_blur, specular_highlights, fluid_colour, exposure  # noqa: F401,I001
# the EUS cyst texture extractors (EUS_TEXTURE_PARAMS_PATH selects them, with lbp)
from . import glcm, cyst_echogenicity, posterior_enhancement, locule_count, wall_profile  # noqa: F401,I001
from .params import DEFAULT_EXTRACTORS, DEFAULT_PARAMS_PATH, FRAME_QUALITY_PARAMS_PATH, load_params
from .runner import extract
from .transformer import HandcraftedFeatures

#: The EUS cyst texture suite (GLCM, cyst echogenicity, wall profile, posterior enhancement, locule count, LBP).
EUS_TEXTURE_PARAMS_PATH = DEFAULT_PARAMS_PATH.with_name("eus_texture_params.yaml")

__all__ = ["DEFAULT_EXTRACTORS", "DEFAULT_PARAMS_PATH", "EUS_TEXTURE_PARAMS_PATH", "FRAME_QUALITY_PARAMS_PATH", "Extractor", "HandcraftedFeatures", "Param",
           "PreparedCrop", "UndefinedFeature", "extract", "get_extractor", "list_extractors", "load_params",
           "register_extractor"]
