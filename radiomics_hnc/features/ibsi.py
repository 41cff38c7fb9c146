"""radiomics-hnc's features and settings in the terms of IBSI 1 (Zwanenburg et al., Radiology
2020; https://ibsi.readthedocs.io): which IBSI feature each column is, and whether a setting
set computes it as IBSI defines it.

The verdicts rest on measurements, not on names: ``benchmarks/ibsi.py`` runs the extraction
engine on the IBSI digital phantom and the IBSI CT phantom (configurations A-E) and compares
every feature with the consensus reference values (results in docs/ibsi.md). What it found is
written down here once: the features PyRadiomics defines differently from IBSI
(:data:`DEFINITION_DEVIATIONS`), and the settings under which PyRadiomics' image processing is
not IBSI's (:func:`deviation`). ``tests/test_ibsi.py`` reruns the benchmark on the phantoms and
checks these lists against it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from radiomics_hnc.features.configs import ResamplingOptions

#: IBSI feature families, by the prefix of IBSI's feature tags.
FAMILIES = {
    "morph": "Morphology", "loc": "Local intensity", "stat": "Intensity-based statistics",
    "ih": "Intensity histogram", "ivh": "Intensity-volume histogram",
    "cm": "Grey level co-occurrence matrix", "rlm": "Grey level run length matrix",
    "szm": "Grey level size zone matrix", "dzm": "Grey level distance zone matrix",
    "ngt": "Neighbourhood grey tone difference matrix",
    "ngl": "Neighbouring grey level dependence matrix",
}
_STATISTICS = {
    "mean": "Mean", "var": "Variance", "skew": "Skewness", "kurt": "(Excess) kurtosis",
    "median": "Median", "min": "Minimum", "p10": "10th percentile", "p90": "90th percentile",
    "max": "Maximum", "iqr": "Interquartile range", "range": "Range",
    "mad": "Mean absolute deviation", "rmad": "Robust mean absolute deviation",
    "medad": "Median absolute deviation", "cov": "Coefficient of variation",
    "qcod": "Quartile coefficient of dispersion", "energy": "Energy", "rms": "Root mean square",
}
_GREY_LEVEL_EMPHASES = {
    "glnu": "Grey level non-uniformity", "glnu_norm": "Normalised grey level non-uniformity",
    "gl_var": "Grey level variance",
}
_ZONES = {
    "lgze": "Low grey level zone emphasis", "hgze": "High grey level zone emphasis",
    "z_perc": "Zone percentage", **_GREY_LEVEL_EMPHASES,
}
#: IBSI feature names within each family, by tag (IBSI tags are ``<family>_<short name>``).
_NAMES: dict[str, dict[str, str]] = {
    "morph": {
        "volume": "Volume (mesh)", "vol_approx": "Volume (voxel counting)",
        "area_mesh": "Surface area (mesh)", "av": "Surface to volume ratio",
        "comp_1": "Compactness 1", "comp_2": "Compactness 2",
        "sph_dispr": "Spherical disproportion", "sphericity": "Sphericity",
        "asphericity": "Asphericity", "com": "Centre of mass shift",
        "diam": "Maximum 3D diameter", "pca_maj_axis": "Major axis length",
        "pca_min_axis": "Minor axis length", "pca_least_axis": "Least axis length",
        "pca_elongation": "Elongation", "pca_flatness": "Flatness",
        "vol_dens_aabb": "Volume density (axis-aligned bounding box)",
        "area_dens_aabb": "Area density (axis-aligned bounding box)",
        "vol_dens_ombb": "Volume density (oriented minimum bounding box)",
        "area_dens_ombb": "Area density (oriented minimum bounding box)",
        "vol_dens_aee": "Volume density (approximate enclosing ellipsoid)",
        "area_dens_aee": "Area density (approximate enclosing ellipsoid)",
        "vol_dens_mvee": "Volume density (minimum volume enclosing ellipsoid)",
        "area_dens_mvee": "Area density (minimum volume enclosing ellipsoid)",
        "vol_dens_conv_hull": "Volume density (convex hull)",
        "area_dens_conv_hull": "Area density (convex hull)",
        "integ_int": "Integrated intensity", "moran_i": "Moran's I index",
        "geary_c": "Geary's C measure",
    },
    "loc": {"peak_loc": "Local intensity peak", "peak_glob": "Global intensity peak"},
    "stat": _STATISTICS,
    "ih": {
        **_STATISTICS, "mode": "Mode", "entropy": "Entropy", "uniformity": "Uniformity",
        "max_grad": "Maximum histogram gradient",
        "max_grad_g": "Maximum histogram gradient grey level",
        "min_grad": "Minimum histogram gradient",
        "min_grad_g": "Minimum histogram gradient grey level",
    },
    "ivh": {
        "v10": "Volume at intensity fraction 10%", "v90": "Volume at intensity fraction 90%",
        "i10": "Intensity at volume fraction 10%", "i90": "Intensity at volume fraction 90%",
        "diff_v10_v90": "Volume fraction difference between intensity fractions 10% and 90%",
        "diff_i10_i90": "Intensity fraction difference between volume fractions 10% and 90%",
        "auc": "Area under the IVH curve",
    },
    "cm": {
        "joint_max": "Joint maximum", "joint_avg": "Joint average",
        "joint_var": "Joint variance", "joint_entr": "Joint entropy",
        "diff_avg": "Difference average", "diff_var": "Difference variance",
        "diff_entr": "Difference entropy", "sum_avg": "Sum average", "sum_var": "Sum variance",
        "sum_entr": "Sum entropy", "energy": "Angular second moment", "contrast": "Contrast",
        "dissimilarity": "Dissimilarity", "inv_diff": "Inverse difference",
        "inv_diff_norm": "Normalised inverse difference",
        "inv_diff_mom": "Inverse difference moment",
        "inv_diff_mom_norm": "Normalised inverse difference moment",
        "inv_var": "Inverse variance", "corr": "Correlation", "auto_corr": "Autocorrelation",
        "clust_tend": "Cluster tendency", "clust_shade": "Cluster shade",
        "clust_prom": "Cluster prominence", "info_corr1": "Information correlation 1",
        "info_corr2": "Information correlation 2",
    },
    "rlm": {
        "sre": "Short runs emphasis", "lre": "Long runs emphasis",
        "lgre": "Low grey level run emphasis", "hgre": "High grey level run emphasis",
        "srlge": "Short run low grey level emphasis", "srhge": "Short run high grey level emphasis",
        "lrlge": "Long run low grey level emphasis", "lrhge": "Long run high grey level emphasis",
        "rlnu": "Run length non-uniformity", "rlnu_norm": "Normalised run length non-uniformity",
        "r_perc": "Run percentage", "rl_var": "Run length variance", "rl_entr": "Run entropy",
        **_GREY_LEVEL_EMPHASES,
    },
    "szm": {
        "sze": "Small zone emphasis", "lze": "Large zone emphasis",
        "szlge": "Small zone low grey level emphasis",
        "szhge": "Small zone high grey level emphasis",
        "lzlge": "Large zone low grey level emphasis",
        "lzhge": "Large zone high grey level emphasis",
        "zsnu": "Zone size non-uniformity", "zsnu_norm": "Normalised zone size non-uniformity",
        "zs_var": "Zone size variance", "zs_entr": "Zone size entropy", **_ZONES,
    },
    "dzm": {
        "sde": "Small distance emphasis", "lde": "Large distance emphasis",
        "sdlge": "Small distance low grey level emphasis",
        "sdhge": "Small distance high grey level emphasis",
        "ldlge": "Large distance low grey level emphasis",
        "ldhge": "Large distance high grey level emphasis",
        "zdnu": "Zone distance non-uniformity",
        "zdnu_norm": "Normalised zone distance non-uniformity",
        "zd_var": "Zone distance variance", "zd_entr": "Zone distance entropy", **_ZONES,
    },
    "ngt": {"coarseness": "Coarseness", "contrast": "Contrast", "busyness": "Busyness",
            "complexity": "Complexity", "strength": "Strength"},
    "ngl": {
        "lde": "Low dependence emphasis", "hde": "High dependence emphasis",
        "lgce": "Low grey level count emphasis", "hgce": "High grey level count emphasis",
        "ldlge": "Low dependence low grey level emphasis",
        "ldhge": "Low dependence high grey level emphasis",
        "hdlge": "High dependence low grey level emphasis",
        "hdhge": "High dependence high grey level emphasis",
        "dcnu": "Dependence count non-uniformity",
        "dcnu_norm": "Normalised dependence count non-uniformity",
        "dc_perc": "Dependence count percentage", "dc_var": "Dependence count variance",
        "dc_entr": "Dependence count entropy", "dc_energy": "Dependence count energy",
        **_GREY_LEVEL_EMPHASES,
    },
}

#: Each PyRadiomics feature with an IBSI counterpart: (class, feature) -> IBSI tag stem.
PYRADIOMICS_FEATURES: dict[tuple[str, str], str] = {
    **{("shape", name): f"morph_{tag}" for name, tag in {
        "MeshVolume": "volume", "VoxelVolume": "vol_approx", "SurfaceArea": "area_mesh",
        "SurfaceVolumeRatio": "av", "Sphericity": "sphericity", "Maximum3DDiameter": "diam",
        "MajorAxisLength": "pca_maj_axis", "MinorAxisLength": "pca_min_axis",
        "LeastAxisLength": "pca_least_axis", "Elongation": "pca_elongation",
        "Flatness": "pca_flatness"}.items()},
    **{("firstorder", name): f"stat_{tag}" for name, tag in {
        "Mean": "mean", "Variance": "var", "Skewness": "skew", "Kurtosis": "kurt",
        "Median": "median", "Minimum": "min", "10Percentile": "p10", "90Percentile": "p90",
        "Maximum": "max", "InterquartileRange": "iqr", "Range": "range",
        "MeanAbsoluteDeviation": "mad", "RobustMeanAbsoluteDeviation": "rmad",
        "Energy": "energy", "RootMeanSquared": "rms"}.items()},
    ("firstorder", "Entropy"): "ih_entropy",
    ("firstorder", "Uniformity"): "ih_uniformity",
    **{("glcm", name): f"cm_{tag}" for name, tag in {
        "MaximumProbability": "joint_max", "JointAverage": "joint_avg",
        "SumSquares": "joint_var", "JointEntropy": "joint_entr",
        "DifferenceAverage": "diff_avg", "DifferenceVariance": "diff_var",
        "DifferenceEntropy": "diff_entr", "SumAverage": "sum_avg", "SumEntropy": "sum_entr",
        "JointEnergy": "energy", "Contrast": "contrast", "Id": "inv_diff", "Idn": "inv_diff_norm",
        "Idm": "inv_diff_mom", "Idmn": "inv_diff_mom_norm", "InverseVariance": "inv_var",
        "Correlation": "corr", "Autocorrelation": "auto_corr", "ClusterTendency": "clust_tend",
        "ClusterShade": "clust_shade", "ClusterProminence": "clust_prom", "Imc1": "info_corr1",
        "Imc2": "info_corr2"}.items()},
    **{("glrlm", name): f"rlm_{tag}" for name, tag in {
        "ShortRunEmphasis": "sre", "LongRunEmphasis": "lre",
        "LowGrayLevelRunEmphasis": "lgre", "HighGrayLevelRunEmphasis": "hgre",
        "ShortRunLowGrayLevelEmphasis": "srlge", "ShortRunHighGrayLevelEmphasis": "srhge",
        "LongRunLowGrayLevelEmphasis": "lrlge", "LongRunHighGrayLevelEmphasis": "lrhge",
        "GrayLevelNonUniformity": "glnu", "GrayLevelNonUniformityNormalized": "glnu_norm",
        "RunLengthNonUniformity": "rlnu", "RunLengthNonUniformityNormalized": "rlnu_norm",
        "RunPercentage": "r_perc", "GrayLevelVariance": "gl_var", "RunVariance": "rl_var",
        "RunEntropy": "rl_entr"}.items()},
    **{("glszm", name): f"szm_{tag}" for name, tag in {
        "SmallAreaEmphasis": "sze", "LargeAreaEmphasis": "lze",
        "LowGrayLevelZoneEmphasis": "lgze", "HighGrayLevelZoneEmphasis": "hgze",
        "SmallAreaLowGrayLevelEmphasis": "szlge", "SmallAreaHighGrayLevelEmphasis": "szhge",
        "LargeAreaLowGrayLevelEmphasis": "lzlge", "LargeAreaHighGrayLevelEmphasis": "lzhge",
        "GrayLevelNonUniformity": "glnu", "GrayLevelNonUniformityNormalized": "glnu_norm",
        "SizeZoneNonUniformity": "zsnu", "SizeZoneNonUniformityNormalized": "zsnu_norm",
        "ZonePercentage": "z_perc", "GrayLevelVariance": "gl_var", "ZoneVariance": "zs_var",
        "ZoneEntropy": "zs_entr"}.items()},
    # PyRadiomics' GLDM is IBSI's NGLDM (coarseness alpha = gldm_a, distance 1).
    **{("gldm", name): f"ngl_{tag}" for name, tag in {
        "SmallDependenceEmphasis": "lde", "LargeDependenceEmphasis": "hde",
        "LowGrayLevelEmphasis": "lgce", "HighGrayLevelEmphasis": "hgce",
        "SmallDependenceLowGrayLevelEmphasis": "ldlge",
        "SmallDependenceHighGrayLevelEmphasis": "ldhge",
        "LargeDependenceLowGrayLevelEmphasis": "hdlge",
        "LargeDependenceHighGrayLevelEmphasis": "hdhge",
        "GrayLevelNonUniformity": "glnu", "DependenceNonUniformity": "dcnu",
        "DependenceNonUniformityNormalized": "dcnu_norm", "GrayLevelVariance": "gl_var",
        "DependenceVariance": "dc_var", "DependenceEntropy": "dc_entr"}.items()},
    **{("ngtdm", name): f"ngt_{name.lower()}"
       for name in ("Coarseness", "Contrast", "Busyness", "Complexity", "Strength")},
}
#: IBSI features that equal another PyRadiomics feature by definition (PyRadiomics documents
#: each and computes only one of the pair): IBSI tag stem -> (class, feature).
EQUAL_BY_DEFINITION: dict[str, tuple[str, str]] = {
    "cm_sum_var": ("glcm", "ClusterTendency"),
    "cm_dissimilarity": ("glcm", "DifferenceAverage"),
    "ngl_glnu_norm": ("firstorder", "Uniformity"),
}
#: radiomics-hnc's own columns with an IBSI counterpart: column -> (IBSI tag stem, factor
#: that turns our unit into IBSI's: ml -> mm^3).
OWN_FEATURES: dict[str, tuple[str, float]] = {
    "PT_suv_SUVmax": ("stat_max", 1.0), "PT_suv_SUVmean": ("stat_mean", 1.0),
    "PT_suv_SUVpeak": ("loc_peak_loc", 1.0), "PT_suv_MTV": ("morph_vol_approx", 1000.0),
    "PT_suv_TLG": ("morph_integ_int", 1000.0), "MASK_volume_ml": ("morph_vol_approx", 1000.0),
}
_SAMPLE_COVARIANCE = (
    "PyRadiomics derives the axis lengths from the sample covariance of the voxel positions "
    "(N - 1), IBSI from the population covariance (N), so they are shorter by sqrt((N - 1) / "
    "N): 0.7% on the 74-voxel digital phantom, under 0.05% above 1000 voxels. The major axis "
    "length shares the cause and stays within IBSI's tolerance. No setting changes it.")
#: Features whose definition differs from IBSI's whatever the settings (measured on the IBSI
#: digital phantom), with the cause (first sentence) and whether anything fixes it.
DEFINITION_DEVIATIONS: dict[str, str] = {
    "firstorder_Kurtosis": (
        "PyRadiomics reports the kurtosis, IBSI the excess kurtosis (kurtosis - 3). The "
        "column minus 3 is IBSI's value; no setting changes it."),
    "shape_MinorAxisLength": _SAMPLE_COVARIANCE,
    "shape_LeastAxisLength": _SAMPLE_COVARIANCE,
    "PT_suv_TLG": (
        "TLG is SUVmean x MTV with the voxel-counting volume, as clinicians define it, IBSI's "
        "integrated intensity multiplies by the mesh volume. Not changed on purpose."),
}
#: Features that depend on the grey-level numbers themselves, not only on differences
#: between them: under fixed bin size they differ from IBSI whenever the ROI minimum is not in
#: the first bin above the re-segmentation lower bound (PyRadiomics numbers bins from the
#: ROI minimum's bin, IBSI from the lower bound).
GREY_LEVEL_NUMBER_FEATURES = frozenset(
    [f"glcm_{name}" for name in ("JointAverage", "SumAverage", "Autocorrelation", "Idn", "Idmn")]
    + [f"{cls}_{name}" for cls, names in {
        "glrlm": ("LowGrayLevelRunEmphasis", "HighGrayLevelRunEmphasis",
                  "ShortRunLowGrayLevelEmphasis", "ShortRunHighGrayLevelEmphasis",
                  "LongRunLowGrayLevelEmphasis", "LongRunHighGrayLevelEmphasis"),
        "glszm": ("LowGrayLevelZoneEmphasis", "HighGrayLevelZoneEmphasis",
                  "SmallAreaLowGrayLevelEmphasis", "SmallAreaHighGrayLevelEmphasis",
                  "LargeAreaLowGrayLevelEmphasis", "LargeAreaHighGrayLevelEmphasis"),
        "gldm": ("LowGrayLevelEmphasis", "HighGrayLevelEmphasis",
                 "SmallDependenceLowGrayLevelEmphasis", "SmallDependenceHighGrayLevelEmphasis",
                 "LargeDependenceLowGrayLevelEmphasis", "LargeDependenceHighGrayLevelEmphasis"),
        "ngtdm": ("Busyness",)}.items() for name in names])
#: Interpolators IBSI defines (nearest neighbour, trilinear, tricubic spline).
IBSI_INTERPOLATORS = {"sitkNearestNeighbor": "nearest neighbour", "sitkLinear": "trilinear",
                      "sitkBSpline": "tricubic spline"}
_DISCRETISED_CLASSES = {"glcm", "glrlm", "glszm", "gldm", "ngtdm"}
_DIRECTIONAL_CLASSES = {"glcm", "glrlm"}

COMPLIANT = "compliant"
DEVIATES = "deviates"
NO_COUNTERPART = "no IBSI counterpart"
OUTSIDE_IBSI1 = "filtered image (IBSI 2, not assessed)"


def ibsi_name(stem: str) -> str:
    """``<family>: <feature>`` of an IBSI tag stem, e.g. ``cm_joint_avg``."""
    family, _, short = stem.partition("_")
    return f"{FAMILIES[family]}: {_NAMES[family][short]}"


def ibsi_tag(stem: str, two_d: bool) -> str:
    """IBSI's reference tag of a feature as PyRadiomics aggregates it.

    PyRadiomics computes GLCM and GLRLM features per direction and averages them (IBSI "3D,
    averaged", or "2.5D, averaged" with ``force2D``: in-plane directions, each merged over the
    slices); GLSZM, NGTDM and NGLDM (GLDM) are computed over the volume (3D, or 2.5D with
    ``force2D``). Other families have one value.
    """
    family = stem.split("_", 1)[0]
    dimension = "2_5D" if two_d else "3D"
    if family in ("cm", "rlm"):
        return f"{stem}_{dimension}_avg"
    if family in ("szm", "dzm", "ngt", "ngl"):
        return f"{stem}_{dimension}"
    return stem


@dataclass(frozen=True)
class FeatureVerdict:
    """One extracted feature in IBSI terms: its column, IBSI tag stem (``cm_joint_avg``) and
    reference tag (``cm_joint_avg_3D_avg``), status and the reason for a deviation."""

    column: str
    stem: str | None
    tag: str | None
    status: str
    reason: str = ""

    @property
    def ibsi_name(self) -> str | None:
        return ibsi_name(self.stem) if self.stem else None


def _setting(settings: Mapping[str, Any], key: str, default: Any = None) -> Any:
    return (settings.get("setting") or {}).get(key, default)


def _resampled(settings: Mapping[str, Any]) -> bool:
    return (_setting(settings, "resampledPixelSpacing") is not None
            and _setting(settings, "interpolator", "sitkBSpline") is not None)


def processing_deviation(settings: Mapping[str, Any]) -> str | None:
    """Why the image processing of ``settings`` is not IBSI's, or ``None`` when it is."""
    if not _resampled(settings):
        return None
    interpolator = _setting(settings, "interpolator", "sitkBSpline")
    if ResamplingOptions.from_section(settings.get("resampling")).grid != "ibsi":
        return ("resampled by PyRadiomics: its grid is aligned to the corner of the mask's "
                "bounding box and its mask interpolated by nearest neighbour, where IBSI aligns "
                "the grid centres and interpolates the mask trilinearly (threshold 0.5); set "
                "resampling: {grid: ibsi}")
    if interpolator not in IBSI_INTERPOLATORS:
        return f"interpolator {interpolator} is none of IBSI's ({', '.join(IBSI_INTERPOLATORS)})"
    return None


def _discretisation_deviation(settings: Mapping[str, Any], key: str) -> str | None:
    """Why fixed-bin-size discretisation makes ``key`` (``class_feature``) deviate."""
    if _setting(settings, "binCount") is not None:
        return None  # PyRadiomics' fixed bin number is IBSI's, formula for formula
    width = float(_setting(settings, "binWidth", 25))
    bounds = _setting(settings, "resegmentRange")
    absolute = _setting(settings, "resegmentMode", "absolute") == "absolute"
    lower = min(bounds) if bounds and absolute else None
    if lower is None or abs(lower / width - round(lower / width)) > 1e-9:
        return ("fixed bin size without a re-segmentation lower bound that is a multiple of "
                "the bin width: PyRadiomics' bins start at multiples of the width, IBSI's at "
                "the lower bound (or the ROI minimum); set resegmentRange, or use binCount")
    if key in GREY_LEVEL_NUMBER_FEATURES:
        return ("fixed bin size: PyRadiomics numbers the bins from the one holding the ROI "
                "minimum, IBSI from the re-segmentation lower bound, and this feature uses "
                "the numbers themselves; use binCount (fixed bin number), which PyRadiomics "
                "computes as IBSI does")
    return None


def _setting_deviation(settings: Mapping[str, Any], cls: str, key: str) -> str | None:
    """Why a setting makes feature ``key`` (``class_feature``) of class ``cls`` deviate."""
    if cls == "shape":
        if _setting(settings, "resegmentShape") and _setting(settings, "resegmentRange"):
            return ("resegmentShape computes shape on the re-segmented mask; IBSI uses the "
                    "morphological (not re-segmented) mask")
        return None
    if key in ("firstorder_Energy", "firstorder_RootMeanSquared") and \
            _setting(settings, "voxelArrayShift", 0):
        return "voxelArrayShift adds a constant to every intensity; set it to 0"
    if cls in _DIRECTIONAL_CLASSES and _setting(settings, "weightingNorm") is not None:
        return "weightingNorm weights directions by distance, which IBSI does not define"
    if cls == "glcm" and not _setting(settings, "symmetricalGLCM", True):
        return "IBSI's co-occurrence matrices are symmetrical; set symmetricalGLCM: true"
    if cls == "glcm" and len(_setting(settings, "distances", [1])) > 1:
        return "features averaged over several distances, an aggregation IBSI does not define"
    if cls in _DISCRETISED_CLASSES or key in ("firstorder_Entropy", "firstorder_Uniformity"):
        return _discretisation_deviation(settings, key)
    return None


def deviation(settings: Mapping[str, Any], cls: str, name: str) -> str | None:
    """Why PyRadiomics feature ``name`` of class ``cls`` is not IBSI's under ``settings``
    (its definition, the image processing or a setting), or ``None``."""
    key = f"{cls}_{name}"
    return (DEFINITION_DEVIATIONS.get(key) or processing_deviation(settings)
            or _setting_deviation(settings, cls, key))


def _verdict(column: str, cls: str, name: str, settings: Mapping[str, Any]) -> FeatureVerdict:
    stem = PYRADIOMICS_FEATURES.get((cls, name))
    if stem is None:
        return FeatureVerdict(column, None, None, NO_COUNTERPART)
    tag = ibsi_tag(stem, bool(_setting(settings, "force2D", False)))
    reason = deviation(settings, cls, name)
    return FeatureVerdict(column, stem, tag, DEVIATES if reason else COMPLIANT, reason or "")


def enabled_features(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(class, feature) of every PyRadiomics feature the settings enable (deprecated ones only
    when listed by name, as PyRadiomics does)."""
    from radiomics import getFeatureClasses

    classes = getFeatureClasses()
    enabled = []
    for cls, names in (settings.get("featureClass") or {}).items():
        available = classes[cls].getFeatureNames()
        listed = names or [n for n, deprecated in available.items() if not deprecated]
        enabled.extend((cls, name) for name in listed)
    return enabled


def filtered_image_names(image_type: str, options: Mapping[str, Any] | None) -> list[str]:
    """PyRadiomics' names of the images derived from one filtered image type entry
    (``log-sigma-1-0-mm-3D``, ``wavelet-LLH``, ...)."""
    options = options or {}
    if image_type == "LoG":
        return [f"log-sigma-{str(s).replace('.', '-')}-mm-3D"
                for s in options.get("sigma") or []]
    if image_type == "Wavelet":
        bands = ["".join(band) for band in itertools.product("LH", repeat=3)]
        levels = range(int(options.get("start_level", 0)),
                       int(options.get("start_level", 0)) + int(options.get("level", 1)))
        return [f"wavelet{'' if level == 0 else level + 1}-{band}"
                for level in levels for band in bands]
    return [image_type.lower()]


def verdict(column: str, settings: Mapping[str, Any]) -> FeatureVerdict:
    """The IBSI verdict of one PyRadiomics column (``CT_original_glcm_Contrast``) extracted
    with a modality's ``settings``."""
    _, image, cls, name = column.split("_", 3)
    if image != "original":
        return FeatureVerdict(column, None, None, OUTSIDE_IBSI1)
    return _verdict(column, cls, name, settings)


def assess(settings: Mapping[str, Any], prefix: str) -> list[FeatureVerdict]:
    """Every PyRadiomics feature a modality's settings extract, with its IBSI verdict.

    Features of filtered images are outside IBSI 1 (IBSI 2 standardises filters): they are
    listed, not assessed.
    """
    image_types = settings.get("imageType") or {"Original": {}}
    images = [name for image_type, options in image_types.items()
              for name in (["original"] if image_type == "Original"
                           else filtered_image_names(image_type, options))]
    return [verdict(f"{prefix}_{image}_{cls}_{name}", settings)
            for cls, name in enabled_features(settings)
            for image in (["original"] if cls == "shape" else images)]


def own_feature_verdicts(columns: Sequence[str]) -> list[FeatureVerdict]:
    """IBSI verdicts of radiomics-hnc's own columns among ``columns`` (SUV, MASK, DVH).

    They are computed on the image's own grid without interpolation or discretisation, so
    only their definitions matter.
    """
    verdicts = []
    for column in columns:
        if column in OWN_FEATURES:
            reason = DEFINITION_DEVIATIONS.get(column, "")
            stem = OWN_FEATURES[column][0]
            verdicts.append(FeatureVerdict(column, stem, ibsi_tag(stem, False),
                                           DEVIATES if reason else COMPLIANT, reason))
        elif column.startswith(("PT_suv_", "MASK_", "RTDOSE_dvh_")):
            verdicts.append(FeatureVerdict(column, None, None, NO_COUNTERPART))
    return verdicts


# --- settings in IBSI's words (the report's Methods) -----------------------------------------

def _number(value: Any) -> str:
    return f"{float(value):g}"


def _interpolation(settings: Mapping[str, Any]) -> str:
    if not _resampled(settings):
        return "none (original voxels)"
    spacing = " x ".join("unchanged" if not v else _number(v)
                         for v in _setting(settings, "resampledPixelSpacing"))
    interpolator = _setting(settings, "interpolator", "sitkBSpline")
    method = f"{IBSI_INTERPOLATORS.get(interpolator, 'not an IBSI method')} ({interpolator})"
    options = ResamplingOptions.from_section(settings.get("resampling"))
    if options.grid != "ibsi":
        return (f"to {spacing} mm, {method}, on PyRadiomics' grid (aligned to the mask's "
                "bounding-box corner) with a nearest-neighbour ROI mask, not IBSI's")
    rounded = ", intensities rounded to integers" if options.round_intensities else ""
    return (f"to {spacing} mm, {method}, on IBSI's grid (grid centres aligned), ROI mask "
            f"interpolated trilinearly with partial-volume threshold 0.5{rounded}")


def _resegmentation(settings: Mapping[str, Any], unit: str) -> str:
    bounds = _setting(settings, "resegmentRange")
    if not bounds:
        return "none"
    mode = _setting(settings, "resegmentMode", "absolute")
    if mode == "sigma":
        text = f"outlier filtering, mean {_number(min(bounds))} to +{_number(max(bounds))} SD"
    elif mode == "relative":
        text = (f"{_number(min(bounds))} to {_number(max(bounds))} times the ROI maximum "
                "(not an IBSI method)")
    else:
        upper = _number(max(bounds)) if len(bounds) > 1 else "infinity"
        text = f"range [{_number(min(bounds))}, {upper}] {unit}"
    shape = ("shape on the re-segmented mask" if _setting(settings, "resegmentShape")
             else "shape on the mask before re-segmentation")
    return f"{text}; {shape}"


def _discretisation(settings: Mapping[str, Any], unit: str) -> str:
    count = _setting(settings, "binCount")
    if count is not None:
        return f"fixed bin number, {count} bins"
    return (f"fixed bin size {_number(_setting(settings, 'binWidth', 25))} {unit}, bins at "
            "multiples of the bin width (PyRadiomics)")


def _aggregation(settings: Mapping[str, Any]) -> str:
    if not _DISCRETISED_CLASSES & set(settings.get("featureClass") or {}):
        return "no texture features"
    distances = ", ".join(str(d) for d in _setting(settings, "distances", [1]))
    tail = (f"distance {distances}; NGLDM (PyRadiomics GLDM) coarseness "
            f"{_number(_setting(settings, 'gldm_a', 0))}")
    if _setting(settings, "force2D"):
        return ("2.5D: GLCM and GLRLM per in-plane direction with the slices merged, averaged "
                f"over directions; GLSZM, NGTDM and NGLDM merged over the slices; {tail}")
    return ("3D: GLCM and GLRLM per direction (13), averaged over directions; GLSZM, NGTDM "
            f"and NGLDM over the volume; {tail}")


def describe(settings: Mapping[str, Any], unit: str) -> dict[str, str]:
    """A modality's settings in IBSI's words: interpolation, re-segmentation, discretisation
    and texture aggregation (``unit``: HU, SUV, Gy)."""
    return {"interpolation": _interpolation(settings),
            "re-segmentation": _resegmentation(settings, unit),
            "discretisation": _discretisation(settings, unit),
            "aggregation": _aggregation(settings)}
