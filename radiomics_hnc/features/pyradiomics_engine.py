"""PyRadiomics on a lesion's neighbourhood, giving the values PyRadiomics gives on the full image.

PyRadiomics resamples with ITK, whose B-spline interpolator prefilters the *whole* input image:
on a 512x512x150 CT that is ~5 s per lesion, for a lesion of a few thousand voxels. Here:

1. the resampled grid is computed from the full image's geometry with PyRadiomics' own
   arithmetic (``imageoperations.resampleImage``, mirrored line by line in
   :func:`pyradiomics_grid`): same spacing, size and origin, so the grid is aligned to the full
   image's origin exactly as PyRadiomics aligns it;
2. only the input voxels that grid needs are cropped, plus a margin for the interpolator (for
   B-spline, 24 voxels: the prefilter's influence decays as 0.268^d, below 1e-13 at the crop
   edge);
3. image and mask are resampled onto that grid (image with the configured interpolator and
   pixel type, mask nearest-neighbour), and PyRadiomics computes the features from there with
   resampling switched off.

When no resampling happens (no ``resampledPixelSpacing``, or it equals the image spacing),
PyRadiomics works on the image cropped to the mask's box plus ``padDistance``, which is what
step 2 hands it. With resampling off, filtered image types (LoG, wavelet) see that padded box
rather than the whole image; with resampling on (the packaged CT and PET settings) they see
exactly PyRadiomics' padded grid.

With ``resampling: {grid: ibsi}`` in the parameter file (:class:`ResamplingOptions`), steps 1
and 3 follow IBSI instead of PyRadiomics (:func:`ibsi_grid`): the grid is IBSI's "align grid
centres" grid of the whole image, the image is interpolated into 32-bit floats (rounded to
integers with ``round_intensities``), intensities beyond the image edge repeat the edge, and
the mask is interpolated trilinearly and kept where at least half inside. PyRadiomics then
computes the features from those images exactly as before.

PyRadiomics itself computes the features, with one change that leaves every value as it was
(:func:`binned_once_extractor`): each image type's grey levels are discretised once and shared
by its feature classes, instead of once per class. A profile of the ``--filters``
configuration (12 image types per modality) found that binning (PyRadiomics finds the bin
edges with Python's built-in ``min``/``max`` over every ROI voxel) and the feature classes'
name look-up (``inspect.getmembers`` at every instantiation) took about a fifth of the
feature time.
"""

from __future__ import annotations

import contextvars
import copy
import functools
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import SimpleITK as sitk

from radiomics_hnc.features.configs import (
    RESAMPLING_SECTION,
    ResamplingOptions,
    pyradiomics_params,
)
from radiomics_hnc.features.geometry import LesionMask, Region, crop
from radiomics_hnc.geometry import Grid

logger = logging.getLogger(__name__)

#: Extra input voxels kept around what the resampled grid covers, per interpolator family.
_SPLINE_MARGIN = 24
_LOCAL_MARGIN = 4
_SPLINE_INTERPOLATORS = {"sitkBSpline", "sitkBSplineResampler", "sitkBSplineResamplerOrder3",
                         "sitkBSplineResamplerOrder4", "sitkBSplineResamplerOrder5"}
#: IBSI's partial-volume threshold for an interpolated mask. Interpolation weights carry
#: rounding errors, and IBSI warns that 0.4999... must not drop a voxel that is half inside.
_PARTIAL_VOLUME = 0.5
_PARTIAL_VOLUME_SLACK = 1e-6


def pyradiomics_grid(grid: Grid, region: Region, settings: Mapping[str, Any]) -> Grid | None:
    """The grid PyRadiomics resamples a lesion onto, or ``None`` when it does not resample.

    Mirrors ``radiomics.imageoperations.resampleImage`` (PyRadiomics 3.0.1) for an image and
    mask sharing ``grid``; ``region`` is the mask's bounding box.
    """
    spacing_setting = settings.get("resampledPixelSpacing")
    if settings.get("interpolator") is None or spacing_setting is None:
        return None
    pad = settings.get("padDistance", 5)
    mask_spacing = np.array(grid.spacing)
    resampled = np.array(spacing_setting)
    resampled = np.where(resampled == 0, mask_spacing, resampled)
    bb = np.array(list(region.lower) + list(region.size))
    resampled = np.where(bb[3:] != 1, resampled, mask_spacing)
    if np.allclose(mask_spacing, resampled):
        return None
    ratio = mask_spacing / resampled
    lower = np.floor((bb[:3] - 0.5) * ratio - pad)
    upper = np.ceil((bb[:3] + bb[3:] - 0.5) * ratio + pad)
    max_upper = np.ceil(np.array(grid.size) * ratio) - 1
    lower = np.where(lower < 0, 0, lower)
    upper = np.where(upper > max_upper, max_upper, upper)
    size = np.array(upper - lower + 1, dtype="int").tolist()
    origin_index = np.array(0.5 * (resampled - mask_spacing) / mask_spacing) + lower / ratio
    origin = grid.header().TransformContinuousIndexToPhysicalPoint(origin_index)
    return Grid(tuple(size), tuple(float(v) for v in resampled), tuple(origin), grid.direction)


def ibsi_grid(grid: Grid, region: Region, settings: Mapping[str, Any]) -> Grid | None:
    """The part of IBSI's interpolation grid of the whole image that a lesion needs, or
    ``None`` when nothing is resampled.

    IBSI "align grid centres" (reference manual, Image processing, Interpolation grid): per
    axis the new grid has ``ceil(n * s / s_new)`` points spaced ``s_new / s`` original voxels
    apart, the first at original index ``(n - 1 - (s_new / s) (points - 1)) / 2``, so the two
    grids share their centre. A spacing of 0 keeps the axis (2D interpolation). The part kept
    covers every point within one original voxel of the mask's box (where a trilinearly
    interpolated mask can be non-zero), plus ``padDistance`` points.
    """
    spacing_setting = settings.get("resampledPixelSpacing")
    if settings.get("interpolator") is None or spacing_setting is None:
        return None
    original = np.array(grid.spacing, dtype=float)
    spacing = np.array(spacing_setting, dtype=float)
    spacing = np.where(spacing == 0, original, spacing)
    if np.allclose(original, spacing):
        return None
    size = np.array(grid.size)
    # Rounded before the ceiling: 60 x 3.0 / 2.0 must give 90 points, not 91.
    points = np.ceil(np.round(size * original / spacing, 6)).astype(int)
    step = spacing / original
    first = 0.5 * (size - 1 - step * (points - 1))
    pad = settings.get("padDistance", 5)
    lower = np.floor((np.array(region.lower) - 1 - first) / step) - pad
    upper = np.ceil((np.array(region.upper) + 1 - first) / step) + pad
    lower = np.clip(lower, 0, points - 1)
    upper = np.clip(upper, 0, points - 1)
    origin = grid.index_to_point(first + lower * step)
    return Grid(tuple(int(v) for v in upper - lower + 1), tuple(float(v) for v in spacing),
                tuple(origin), grid.direction)


def _input_region(grid: Grid, target: Grid, margin: int) -> Region:
    """The box of ``grid`` that covers every point of ``target``, grown by ``margin``."""
    corners = np.array([[i, j, k] for i in (0, target.size[0] - 1)
                        for j in (0, target.size[1] - 1) for k in (0, target.size[2] - 1)])
    points = [target.index_to_point(c) for c in corners]
    indices = np.array([grid.point_to_index(p) for p in points])
    lower = np.floor(indices.min(axis=0)).astype(int)
    upper = np.ceil(indices.max(axis=0)).astype(int)
    return Region(tuple(int(v) for v in lower), tuple(int(v) for v in upper)).padded(margin, grid)


def _resample(image: sitk.Image, target: Grid, interpolator: int, pixel_type: int,
              extrapolate: bool = False) -> sitk.Image:
    """``image`` on ``target``; ``extrapolate`` repeats the edge beyond it (IBSI), instead of
    PyRadiomics' 0."""
    resampler = sitk.ResampleImageFilter()
    resampler.SetOutputSpacing(target.spacing)
    resampler.SetOutputDirection(target.direction)
    resampler.SetSize(list(target.size))
    resampler.SetOutputOrigin(target.origin)
    resampler.SetOutputPixelType(pixel_type)
    resampler.SetInterpolator(interpolator)
    resampler.SetUseNearestNeighborExtrapolator(extrapolate)
    return resampler.Execute(image)


def _ibsi_resample(image: sitk.Image, mask: sitk.Image, target: Grid, interpolator: int,
                   round_intensities: bool) -> tuple[sitk.Image, sitk.Image]:
    """Image and binary mask on ``target`` as IBSI interpolates them: the image in at least
    32-bit floats (optionally rounded), the mask trilinearly, kept where >= 0.5."""
    pixel_type = sitk.sitkFloat64 if image.GetPixelID() == sitk.sitkFloat64 else sitk.sitkFloat32
    resampled = _resample(image, target, interpolator, pixel_type, extrapolate=True)
    if round_intensities:
        rounded = sitk.GetImageFromArray(np.rint(sitk.GetArrayViewFromImage(resampled)))
        rounded.CopyInformation(resampled)
        resampled = sitk.Cast(rounded, pixel_type)
    fraction = _resample(sitk.Cast(mask, sitk.sitkFloat32), target, sitk.sitkLinear,
                         sitk.sitkFloat32, extrapolate=True)
    inside = sitk.Cast(fraction >= _PARTIAL_VOLUME - _PARTIAL_VOLUME_SLACK, mask.GetPixelID())
    return resampled, inside


#: The grey-level discretisation shared by the feature classes of one image type, while
#: :meth:`_BinnedOnceExtractor.computeFeatures` runs (None elsewhere: PyRadiomics' behaviour).
_SHARED_BINNING: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "shared_binning", default=None)


class _BinOnce:
    """Mixin for a PyRadiomics feature class: reuse the image type's discretised image.

    Every texture class and first order bin the same image array with the same settings and
    mask (PyRadiomics' ``_applyBinning``); the first class bins, the others copy its result.
    """

    def _applyBinning(self, matrix):
        shared = _SHARED_BINNING.get()
        if shared is None or self.voxelBased:
            return super()._applyBinning(matrix)
        if not shared:
            binned = super()._applyBinning(matrix)
            shared.update(binned=binned, grayLevels=self.coefficients["grayLevels"],
                          Ng=self.coefficients["Ng"])
        self.coefficients["grayLevels"] = shared["grayLevels"].copy()
        self.coefficients["Ng"] = shared["Ng"]
        return shared["binned"].copy()

    @classmethod
    def getFeatureNames(cls) -> dict[str, bool]:
        return dict(_feature_names(cls))


@functools.cache
def _feature_names(feature_class: type) -> dict[str, bool]:
    return super(_BinOnce, feature_class).getFeatureNames()


@functools.cache
def _binned_once(feature_class: type) -> type:
    return type(feature_class.__name__, (_BinOnce, feature_class), {})


def binned_once_extractor(params: Mapping[str, Any]) -> Any:
    """A PyRadiomics ``RadiomicsFeatureExtractor`` for ``params`` whose feature classes bin
    each image type once (see :class:`_BinOnce`); its values are PyRadiomics' own."""
    from radiomics import getFeatureClasses
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    class _BinnedOnceExtractor(RadiomicsFeatureExtractor):
        def computeFeatures(self, image, mask, imageTypeName, **kwargs):
            """PyRadiomics' loop over the enabled non-shape classes, with :class:`_BinOnce`."""
            features = {}
            token = _SHARED_BINNING.set({})
            try:
                for class_name, names in self.enabledFeatures.items():
                    if class_name.startswith("shape"):
                        continue
                    feature_class = _binned_once(getFeatureClasses()[class_name])(
                        image, mask, **kwargs)
                    for name in names or []:
                        feature_class.enableFeatureByName(name)
                    for name, value in feature_class.execute().items():
                        features[f"{imageTypeName}_{class_name}_{name}"] = value
            finally:
                _SHARED_BINNING.reset(token)
            return features

    return _BinnedOnceExtractor(params)


class LesionFeatureExtractor:
    """A PyRadiomics extractor for one modality that works on lesion neighbourhoods.

    Parameters
    ----------
    params
        A validated parameter dict (see :mod:`radiomics_hnc.features.configs`): PyRadiomics'
        sections and, optionally, radiomics-hnc's ``resampling`` section.
    prefix
        Modality token put in front of PyRadiomics' names, e.g. ``CT`` gives
        ``CT_original_glcm_Contrast``.
    """

    def __init__(self, params: Mapping[str, Any], prefix: str) -> None:
        self.prefix = prefix
        self.resampling = ResamplingOptions.from_section(params.get(RESAMPLING_SECTION))
        # Building an extractor parses and validates the schema (~50 ms): build once, copy.
        reference = binned_once_extractor(pyradiomics_params(params))
        self.settings = copy.deepcopy(dict(reference.settings))
        # Resampling is done here, on the crop; PyRadiomics gets the already-resampled images.
        reference.settings["resampledPixelSpacing"] = None
        self._extractor = reference
        self._shape_only = copy.deepcopy(reference)
        self._shape_only.disableAllFeatures()
        self._shape_only.enableFeatureClassByName("shape")
        self._shape_only.enableImageTypes(Original={})

    @property
    def label(self) -> int:
        return int(self.settings.get("label", 1))

    def _margin(self) -> int:
        name = self.settings.get("interpolator")
        name = name if isinstance(name, str) else ""
        return _SPLINE_MARGIN if name in _SPLINE_INTERPOLATORS else _LOCAL_MARGIN

    def _interpolator(self) -> int:
        value = self.settings.get("interpolator", sitk.sitkBSpline)
        return getattr(sitk, value) if isinstance(value, str) else int(value)

    def prepare(self, mask: LesionMask) -> tuple[Region, Grid | None]:
        """The input box of the mask's grid that extraction needs, and the resampled grid."""
        grid_of = ibsi_grid if self.resampling.grid == "ibsi" else pyradiomics_grid
        target = grid_of(mask.grid, mask.region, self.settings)
        if target is None:
            return mask.region.padded(self.settings.get("padDistance", 5), mask.grid), None
        return _input_region(mask.grid, target, self._margin()), target

    def resampled(self, image: sitk.Image, mask: LesionMask) -> tuple[sitk.Image, sitk.Image]:
        """The image and mask (voxels equal to the label) PyRadiomics computes features from:
        the lesion's neighbourhood, resampled as the settings say. ``image`` as in
        :meth:`extract`."""
        region, target = self.prepare(mask)
        image_part = crop(image, mask.grid, region)
        mask_part = mask.to_image(region, self.label)
        if target is not None and self.resampling.grid == "ibsi":
            image_part, inside = _ibsi_resample(image_part, mask.to_image(region), target,
                                                self._interpolator(),
                                                self.resampling.round_intensities)
            mask_part = inside * self.label
        elif target is not None:
            image_part = _resample(image_part, target, self._interpolator(),
                                   image_part.GetPixelID())
            # The mask is resampled from a full-grid image: nearest-neighbour picks depend on
            # the input origin to the last bit (ties at half-voxel points are common).
            source, value = mask.full_grid_source()
            picked = _resample(source, target, sitk.sitkNearestNeighbor, source.GetPixelID())
            mask_part = sitk.Cast(picked == value, mask_part.GetPixelID()) * self.label
        return image_part, mask_part

    def extract(self, image: sitk.Image, mask: LesionMask, shape_only: bool = False) -> dict:
        """Features of one lesion, named ``<prefix>_<image type>_<class>_<feature>``.

        Parameters
        ----------
        image
            The image on ``mask.grid``: the full image or any crop of it that contains
            :meth:`prepare`'s region (e.g. a dose map resampled onto just that region).
        mask
            The lesion mask on the same grid.
        shape_only
            Compute only the shape class (for lesions too small for intensity features).
        """
        image_part, mask_part = self.resampled(image, mask)
        extractor = self._shape_only if shape_only else self._extractor
        values = extractor.execute(image_part, mask_part, label=self.label)
        return {
            f"{self.prefix}_{name}": float(value)
            for name, value in values.items() if not name.startswith("diagnostics_")
        }
