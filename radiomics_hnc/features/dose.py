"""Planned dose in diagnostic CT space, and dose-volume metrics inside each lesion.

The dose map (Gy) lives on the planning CT, a different scan from the diagnostic PET/CT. The
planning CT is rigidly registered onto the diagnostic CT (SimpleITK: Mattes mutual information
on ~10,000 random voxels of the patient's body per level, 6-parameter Euler transform, on images
first averaged to ~4 mm voxels, coarse to fine: 8 mm to 0.05 mm steps, then 4 mm to 0.01 mm),
then the dose is
resampled with that transform (linear interpolation; 0 Gy outside the dose grid) onto the CT grid
where the lesion masks live.

Registration quality: after registration the averaged planning CT is resampled onto the
averaged diagnostic grid and the Pearson correlation of the two CTs' HU where both have data,
inside the diagnostic CT's body (:func:`body_mask`), is recorded. On 25 generated full-scale
patients it is 0.94-0.98 when aligned, ~0.65 at 5 mm off, ~0.35 at 10 mm (counted over
everything above -500 HU it was 0.45-0.93 when aligned: the couches, fixed in each scanner, do
not align with the patient, and 4 of the 25 were flagged as failed); below
:data:`MIN_REGISTRATION_CORRELATION` the registration is flagged as failed (the dose columns are
still filled: filter on ``dose_registration_failed``).

DVH metrics (all voxels of the CT-grid mask have equal volume): Dmean, Dmin, Dmax; Dx = the
largest dose received by at least x % of the lesion volume (sorted doses, rank ceil(x N / 100));
VxGy = percentage of the lesion volume receiving at least x Gy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from radiomics_hnc.features.geometry import Region, region_image
from radiomics_hnc.geometry import Grid

MIN_REGISTRATION_CORRELATION = 0.5
REGISTRATION_SPACING_MM = 4.0
_BODY_OPENING_MM = 8.0


@dataclass(frozen=True)
class RegistrationSettings:
    """How the planning CT is registered (``benchmarks/registration.py`` compares settings).

    ``pyramid``: coarse to fine, (block-average factor on the ~4 mm images, smallest optimiser
    step in mm); the coarse level only brings the fine one into its capture range. ``samples``:
    random voxels the metric reads per level. ``body_only``: sample only the patient's body
    (:func:`body_mask`). The couch is fixed in each scanner while the patient moves with the
    set-up offset, so over the whole image the metric also aligns the two couches: on 25
    generated full-scale patients with a known offset, whole-image sampling (20,000 voxels, 0.001
    mm steps) erred by 3.6 mm (median; worst 10.3 mm) over a 12 cm box around the oropharynx,
    body-only sampling by 0.16 mm (worst 0.9 mm), also with half the voxels.
    """

    pyramid: tuple[tuple[int, float], ...] = ((2, 0.05), (1, 0.01))
    samples: int = 10_000
    body_only: bool = True


REGISTRATION = RegistrationSettings()
DOSE_LEVELS_PERCENT = (98, 95, 50, 2)
VOLUME_LEVELS_GY = (60, 70)
_BODY_HU = -500.0


@dataclass(frozen=True)
class DoseMapping:
    """The dose (Gy, planning grid) and the transform from diagnostic to planning CT space."""

    dose: sitk.Image
    transform: sitk.Transform
    metric: float
    correlation: float

    @property
    def failed(self) -> bool:
        """True when the aligned CTs correlate too poorly to trust the mapped dose."""
        return not self.correlation >= MIN_REGISTRATION_CORRELATION

    def dose_on(self, grid: Grid, region: Region) -> sitk.Image:
        """The dose (Gy, float64) resampled onto ``region`` of the diagnostic ``grid``."""
        reference = region_image(grid, region, sitk.sitkFloat64)
        return sitk.Resample(self.dose, reference, self.transform, sitk.sitkLinear, 0.0,
                             sitk.sitkFloat64)

    def cropped(self, grid: Grid, regions: list[Region]) -> DoseMapping:
        """The same mapping with the dose cut down to what :meth:`dose_on` reads for
        ``regions`` of ``grid`` (a full dose map is ~150 MB; a lesion needs a few hundred kB).

        :meth:`dose_on` gives the same values for any of ``regions`` (up to rounding in the last
        bits of the interpolation weights): every point they map to lies at least
        :data:`_CROP_MARGIN` dose voxels inside the part kept, unless the part reaches the
        dose map's own edge, so linear interpolation reads the same neighbours and the same
        points fall outside the dose.
        """
        if not regions:
            return self
        points = [self.transform.TransformPoint(grid.index_to_point(np.array(corner)))
                  for region in regions for corner in _corners(region)]
        dose_grid = Grid.of(self.dose)
        indices = np.array([dose_grid.point_to_index(p) for p in points])
        lower = np.floor(indices.min(axis=0)).astype(int) - _CROP_MARGIN
        upper = np.ceil(indices.max(axis=0)).astype(int) + _CROP_MARGIN
        lower = np.clip(lower, 0, np.array(dose_grid.size) - 1)
        upper = np.clip(upper, lower, np.array(dose_grid.size) - 1)
        part = self.dose[lower[0]:upper[0] + 1, lower[1]:upper[1] + 1, lower[2]:upper[2] + 1]
        return DoseMapping(part, self.transform, self.metric, self.correlation)


#: Dose voxels kept around the points a cropped mapping is used for (linear interpolation reads
#: one neighbour each way; one more for rounding of the continuous index).
_CROP_MARGIN = 2


def _corners(region: Region) -> list[tuple[int, int, int]]:
    return [(x, y, z) for x in (region.lower[0], region.upper[0])
            for y in (region.lower[1], region.upper[1]) for z in (region.lower[2], region.upper[2])]


def register_planning_ct(
    diagnostic_ct: sitk.Image, planning_ct: sitk.Image, seed: int = 0
) -> tuple[sitk.Transform, float, float]:
    """Rigidly register the planning CT (moving) onto the diagnostic CT (fixed).

    Returns the transform (diagnostic -> planning physical points), the final Mattes metric and
    the alignment correlation (see the module notes). ``seed`` fixes the metric's random voxel
    sampling; the result is deterministic.
    """
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    # One thread throughout (pyramid filters included): multi-threaded partial sums make the
    # result depend on scheduling, and a rerun must give the same transform to the last bit.
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        fixed = _registration_image(diagnostic_ct)
        moving = _registration_image(planning_ct)
        transform, metric, body = _register(fixed, moving, seed, REGISTRATION)
        return transform, metric, alignment_correlation(fixed, moving, transform, body)
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


def _register(fixed: sitk.Image, moving: sitk.Image, seed: int, settings: RegistrationSettings
              ) -> tuple[sitk.Transform, float, sitk.Image | None]:
    """The transform, the final metric, and the fixed image's body the metric sampled (None:
    the whole image)."""
    transform: sitk.Transform = sitk.CenteredTransformInitializer(
        fixed, moving, sitk.Euler3DTransform(),
        sitk.CenteredTransformInitializerFilter.GEOMETRY)
    metric = float("nan")
    body = _body(fixed) if settings.body_only else None

    # Coarse to fine; each level's images are block averages of the next (no Gaussian pyramid:
    # smoothing the whole volume cost more than the optimisation itself).
    for factor, min_step in settings.pyramid:
        level_fixed = sitk.BinShrink(fixed, [factor] * 3) if factor > 1 else fixed
        level_moving = sitk.BinShrink(moving, [factor] * 3) if factor > 1 else moving
        level_body = body if body is None or factor == 1 else _on_grid(body, level_fixed)
        transform, metric = _register_level(level_fixed, level_moving, transform, seed, min_step,
                                            settings.samples, level_body)
    return transform, metric, body


def _register_level(fixed: sitk.Image, moving: sitk.Image, initial: sitk.Transform,
                    seed: int, min_step: float, samples: int,
                    body: sitk.Image | None) -> tuple[sitk.Transform, float]:
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    method.SetMetricSamplingStrategy(method.RANDOM)
    voxels = float(np.prod(fixed.GetSize()))
    if body is not None:
        method.SetMetricFixedMask(body)  # random points outside it are dropped
        voxels = float(np.count_nonzero(sitk.GetArrayViewFromImage(body)))
    # About ``samples`` voxels, whatever the image size. SimpleITK reads seed 0 as "seed from the
    # wall clock": shift so every seed is a fixed one.
    method.SetMetricSamplingPercentage(min(1.0, samples / voxels), seed + 1)
    method.SetInterpolator(sitk.sitkLinear)
    # Gradients by finite differences at the sampled points: precomputing smoothed gradient
    # images of the whole volume took three quarters of the time.
    method.SetMetricUseFixedImageGradientFilter(False)
    method.SetMetricUseMovingImageGradientFilter(False)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=min_step, numberOfIterations=100, relaxationFactor=0.5)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetInitialTransform(sitk.Euler3DTransform(initial), inPlace=True)
    method.SetNumberOfThreads(1)
    result = method.Execute(fixed, moving)
    return sitk.Euler3DTransform(result), float(method.GetMetricValue())


def body_mask(image: sitk.Image) -> sitk.Image | None:
    """The patient's body on a CT (HU): above -500 HU, opened along the first two (axial) axes
    with a radius of :data:`_BODY_OPENING_MM` (at least one voxel; structures thinner than the
    opening's 2 r + 1 voxels go), so that a thin couch plate and immobilisation shells come
    loose, then its largest connected part; None when that holds fewer than 100 voxels (no body
    to speak of: the whole image is used). A thick couch that stays joined to the patient's back
    after the opening is kept, and pulls the registration as it did before."""
    radius = [max(1, round(_BODY_OPENING_MM / s)) for s in image.GetSpacing()[:2]] + [0]
    opened = sitk.BinaryMorphologicalOpening(image > _BODY_HU, radius)
    body = sitk.RelabelComponent(sitk.ConnectedComponent(opened), sortByObjectSize=True) == 1
    return body if np.count_nonzero(sitk.GetArrayViewFromImage(body)) >= 100 else None


def _body(fixed: sitk.Image) -> sitk.Image | None:
    """:func:`body_mask` of a registration image, found on its 2x block averages (opening the
    image itself cost 0.3 s) and put back on its grid."""
    body = body_mask(sitk.BinShrink(fixed, [2, 2, 2]))
    return None if body is None else _on_grid(body, fixed)


def _on_grid(mask: sitk.Image, reference: sitk.Image) -> sitk.Image:
    return sitk.Resample(mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor)


def _registration_image(image: sitk.Image) -> sitk.Image:
    """Float copy averaged down to ~REGISTRATION_SPACING_MM voxels: a full-size CT costs ~16
    times less, noise is averaged out, and accuracy stays well under a diagnostic voxel."""
    factors = [max(1, round(REGISTRATION_SPACING_MM / s)) for s in image.GetSpacing()]
    return sitk.Cast(sitk.BinShrink(image, factors), sitk.sitkFloat32)


def alignment_correlation(fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform,
                          body: sitk.Image | None = None) -> float:
    """Pearson correlation of HU between a fixed CT and a moving CT mapped by ``transform``.

    Computed on the fixed image's grid where both scans have data, inside ``body`` (a mask on
    that grid: the fixed CT's body, see :func:`body_mask`), or without one wherever either CT is
    above -500 HU.
    """
    moved = sitk.Resample(moving, fixed, transform, sitk.sitkLinear, float("nan"),
                          sitk.sitkFloat64)
    a = sitk.GetArrayFromImage(fixed).astype(np.float64).ravel()
    b = sitk.GetArrayFromImage(moved).ravel()
    inside = (sitk.GetArrayViewFromImage(body).ravel() > 0 if body is not None
              else (a > _BODY_HU) | (b > _BODY_HU))
    valid = np.isfinite(b) & inside
    if valid.sum() < 10 or a[valid].std() == 0 or b[valid].std() == 0:
        return float("nan")
    return float(np.corrcoef(a[valid], b[valid])[0, 1])


def map_dose(
    diagnostic_ct: sitk.Image, planning_ct: sitk.Image, dose: sitk.Image, seed: int = 0
) -> DoseMapping:
    """Register the planning CT onto the diagnostic CT and keep what is needed to map the dose."""
    transform, metric, correlation = register_planning_ct(diagnostic_ct, planning_ct, seed)
    return DoseMapping(dose, transform, metric, correlation)


def dvh_metrics(dose_gy: np.ndarray) -> dict[str, float]:
    """Dose-volume metrics of the doses (Gy) of a lesion's voxels (equal voxel volumes).

    Returns Dmean, Dmin, Dmax, D98, D95, D50, D2 (Gy) and V60Gy, V70Gy (% of the volume).
    """
    values = np.sort(np.asarray(dose_gy, dtype=np.float64).ravel())[::-1]
    if values.size == 0:
        raise ValueError("no voxels to compute a dose-volume histogram from")
    metrics = {"Dmean": float(values.mean()), "Dmin": float(values[-1]),
               "Dmax": float(values[0])}
    for percent in DOSE_LEVELS_PERCENT:
        rank = max(1, math.ceil(percent * values.size / 100.0 - 1e-9))
        metrics[f"D{percent}"] = float(values[rank - 1])
    for level in VOLUME_LEVELS_GY:
        metrics[f"V{level}Gy"] = float(100.0 * np.count_nonzero(values >= level) / values.size)
    return metrics
