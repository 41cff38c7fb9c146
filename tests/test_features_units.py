"""Feature extraction units: lesions, configs, PyRadiomics equivalence, SUV, DVH, dose mapping."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
import radiomics
import SimpleITK as sitk
from radiomics.featureextractor import RadiomicsFeatureExtractor

from radiomics_hnc.errors import ConfigError
from radiomics_hnc.features import dose as dose_module
from radiomics_hnc.features.configs import load_feature_configs
from radiomics_hnc.features.dose import dvh_metrics, map_dose
from radiomics_hnc.features.geometry import LesionMask
from radiomics_hnc.features.lesion_features import lesion_features
from radiomics_hnc.features.lesions import find_lesions
from radiomics_hnc.features.pet import PEAK_RADIUS_MM, mask_on_grid, suv_metrics
from radiomics_hnc.features.pyradiomics_engine import LesionFeatureExtractor
from radiomics_hnc.geometry import Grid
from tests.features_phantoms import LESIONS, anatomy_hu, dose_gy, make_patient

radiomics.setVerbosity(logging.ERROR)


@pytest.fixture(scope="module")
def patient():
    return make_patient(seed=3, tiny_node=True)


def _image(array, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def _assert_same_features(ours: dict, reference: dict, prefix: str) -> None:
    expected = {f"{prefix}_{k}": float(v) for k, v in reference.items()
                if not k.startswith("diagnostics_")}
    assert set(expected) <= set(ours)
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, rel=1e-6, abs=1e-9), name


# --- lesions ---------------------------------------------------------------------------------

def test_one_lesion_per_true_lesion_ordered_by_volume(patient):
    lesions = find_lesions(patient["label"])
    assert [les.lesion_id for les in lesions] == ["GTVp", "GTVn_1", "GTVn_2", "GTVn_3"]
    volumes = [les.mask.volume_ml() for les in lesions[1:]]
    assert volumes == sorted(volumes, reverse=True)
    # GTVn_1 is the large node of the phantom (centre (25, -20, 6) mm).
    assert lesions[1].mask.centroid_mm() == pytest.approx(LESIONS[1][0], abs=0.2)
    assert [les.too_small for les in lesions] == [False, False, True, True]


def test_nodes_touching_by_a_corner_are_one_node_and_ties_keep_scan_order():
    labels = np.zeros((10, 10, 10), dtype=np.uint8)
    labels[1, 1, 1] = labels[2, 2, 2] = 2  # corner contact: one node (26-connectivity)
    labels[6, 6, 6] = labels[6, 6, 7] = 2  # same size, later in scan order
    labels[8, 1, 1] = 1
    lesions = find_lesions(_image(labels), min_volume_ml=0.0)
    assert [les.lesion_id for les in lesions] == ["GTVp", "GTVn_1", "GTVn_2"]
    assert lesions[1].mask.region.lower == (1, 1, 1)
    assert lesions[2].mask.region.lower == (6, 6, 6)
    assert find_lesions(_image(np.zeros((4, 4, 4), dtype=np.uint8))) == []


# --- configs ---------------------------------------------------------------------------------

def test_configs_layer_and_validate_with_pyradiomics_schema(tmp_path):
    default = load_feature_configs()
    assert default.ct["setting"]["binWidth"] == 25
    user = tmp_path / "ct.yaml"
    user.write_text("setting:\n  binWidth: 10\n")
    layered = load_feature_configs(ct=user, overrides={"pet": {"setting": {"binWidth": 0.5}}})
    assert layered.ct["setting"]["binWidth"] == 10
    assert layered.ct["setting"]["resampledPixelSpacing"] == [1.0, 1.0, 1.0]
    assert layered.pet["setting"]["binWidth"] == 0.5
    assert layered.content_hash != default.content_hash
    assert load_feature_configs().content_hash == default.content_hash
    assert set(load_feature_configs(filters=True).ct["imageType"]) == {"Original", "LoG",
                                                                       "Wavelet"}
    user.write_text("setting:\n  binWidht: 10\n")
    with pytest.raises(ConfigError, match="binWidht"):
        load_feature_configs(ct=user)
    with pytest.raises(ConfigError, match="normalize"):
        load_feature_configs(overrides={"ct": {"setting": {"normalize": True}}})


# --- PyRadiomics equivalence -----------------------------------------------------------------

def _lesion_image(patient, lesion_id):
    lesion = {les.lesion_id: les for les in find_lesions(patient["label"])}[lesion_id]
    return lesion.mask, lesion.mask.to_full_image()


@pytest.mark.parametrize("lesion_id", ["GTVp", "GTVn_1"])
def test_ct_features_equal_pyradiomics_on_the_full_image(patient, lesion_id):
    params = load_feature_configs().params("ct")
    mask, mask_image = _lesion_image(patient, lesion_id)
    reference = RadiomicsFeatureExtractor(params).execute(patient["ct"], mask_image)
    ours = LesionFeatureExtractor(params, "CT").extract(patient["ct"], mask)
    _assert_same_features(ours, reference, "CT")
    assert "CT_original_glcm_Contrast" in ours and "CT_original_shape_MeshVolume" in ours


def test_filtered_ct_features_equal_pyradiomics(patient):
    params = load_feature_configs(
        filters=True, overrides={"ct": {"featureClass": {"firstorder": None}}}).params("ct")
    mask, mask_image = _lesion_image(patient, "GTVn_1")
    reference = RadiomicsFeatureExtractor(params).execute(patient["ct"], mask_image)
    ours = LesionFeatureExtractor(params, "CT").extract(patient["ct"], mask)
    assert any(k.startswith("CT_wavelet-") for k in ours)
    assert any(k.startswith("CT_log-sigma-2-0-mm-3D") for k in ours)
    _assert_same_features(ours, reference, "CT")


def test_binning_once_per_image_type_gives_pyradiomics_values_exactly(patient, monkeypatch):
    """The extractor discretises each image type once for all its classes (a fifth of the
    filtered configuration's time): every feature of every class and image type stays
    PyRadiomics' own, to the last bit."""
    from radiomics import imageoperations

    from radiomics_hnc.features.pyradiomics_engine import binned_once_extractor

    params = load_feature_configs(filters=True).params("ct")
    extractor = LesionFeatureExtractor(params, "CT")
    mask = _lesion_image(patient, "GTVn_1")[0]
    image, mask_image = extractor.resampled(patient["ct"], mask)
    calls = []
    original = imageoperations.binImage
    monkeypatch.setattr(imageoperations, "binImage",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    plain = {k: v for k, v in RadiomicsFeatureExtractor(params).execute(image, mask_image).items()
             if not k.startswith("diagnostics_")}
    plain_calls = len(calls)
    calls.clear()
    ours = binned_once_extractor(params).execute(image, mask_image)
    image_types = 1 + 3 + 8  # original, LoG at 3 sigmas, 8 wavelet bands
    assert (plain_calls, len(calls)) == (6 * image_types, image_types)
    assert {k: float(v) for k, v in ours.items() if not k.startswith("diagnostics_")} == {
        k: float(v) for k, v in plain.items()}
    assert len(plain) > 1000


def test_pet_features_equal_pyradiomics_with_the_pet_grid_mask(patient):
    params = load_feature_configs().params("pet")
    mask, _ = _lesion_image(patient, "GTVp")
    pet_mask = mask_on_grid(mask, Grid.of(patient["pet"]))
    reference = RadiomicsFeatureExtractor(params).execute(patient["pet"],
                                                          pet_mask.to_full_image())
    ours = LesionFeatureExtractor(params, "PT").extract(patient["pet"], pet_mask)
    _assert_same_features(ours, reference, "PT")


def test_pet_resampled_to_a_finer_grid_still_equals_pyradiomics(patient):
    params = load_feature_configs(overrides={"pet": {"setting": {
        "resampledPixelSpacing": [2.5, 2.5, 2.5], "interpolator": "sitkBSpline"}}}).params("pet")
    mask, _ = _lesion_image(patient, "GTVn_1")
    pet_mask = mask_on_grid(mask, Grid.of(patient["pet"]))
    reference = RadiomicsFeatureExtractor(params).execute(patient["pet"],
                                                          pet_mask.to_full_image())
    ours = LesionFeatureExtractor(params, "PT").extract(patient["pet"], pet_mask)
    _assert_same_features(ours, reference, "PT")


# --- PET mask and SUV metrics ----------------------------------------------------------------

def test_mask_on_pet_grid_keeps_voxels_at_least_half_inside():
    ct_mask = np.zeros((16, 16, 16), dtype=np.uint8)
    ct_mask[4:8, 4:8, 4:10] = 1  # x 4..9 (1 mm voxels): PET voxel x=2 half covered (8..9 of 8..11)
    ct = _image(ct_mask, origin=(0.0, 0.0, 0.0))
    pet = _image(np.zeros((4, 4, 4), dtype=np.float32), (4.0, 4.0, 4.0), (1.5, 1.5, 1.5))
    mapped = mask_on_grid(LesionMask.from_image(ct), Grid.of(pet))
    full = sitk.GetArrayFromImage(mapped.to_full_image())
    expected = np.zeros((4, 4, 4), dtype=np.uint8)
    expected[1, 1, 1:3] = 1
    np.testing.assert_array_equal(full, expected)


def test_suv_metrics_match_hand_computation():
    suv = np.ones((9, 9, 9), dtype=np.float32)
    suv[4, 4, 4] = 10.0
    suv[4, 4, 5] = 6.0  # face neighbour: inside the 1 ml sphere
    suv[5, 5, 5] = 50.0  # corner neighbour (6.93 mm): outside the sphere, outside the mask
    mask = np.zeros_like(suv, dtype=np.uint8)
    mask[3:6, 3:5, 3:6] = 1  # 18 voxels (z 3-5, y 3-4, x 3-5): the 50 SUV voxel (y=5) is outside
    pet = _image(suv, (4.0, 4.0, 4.0))
    metrics = suv_metrics(pet, LesionMask.from_image(_image(mask, (4.0, 4.0, 4.0))))
    assert 4.0 * np.sqrt(2) <= PEAK_RADIUS_MM < 4.0 * np.sqrt(3)
    # Sphere: centre + 6 face + 12 edge neighbours = 19 voxels, sum 10 + 6 + 17 * 1.
    assert metrics["SUVpeak"] == pytest.approx(33.0 / 19.0)
    assert metrics["SUVmax"] == pytest.approx(10.0)
    assert metrics["SUVmean"] == pytest.approx((10.0 + 6.0 + 16.0) / 18.0)
    assert metrics["MTV"] == pytest.approx(18 * 0.064)
    assert metrics["TLG"] == pytest.approx(32.0 / 18.0 * 18 * 0.064)


# --- dose ------------------------------------------------------------------------------------

def test_dvh_metrics_match_hand_computation():
    dose = np.arange(1.0, 101.0)  # 100 voxels receiving 1..100 Gy
    metrics = dvh_metrics(dose)
    assert metrics["Dmean"] == pytest.approx(50.5)
    assert (metrics["Dmin"], metrics["Dmax"]) == (1.0, 100.0)
    # D98: 98 voxels receive at least 3 Gy; D2: 2 voxels receive at least 99 Gy.
    assert (metrics["D98"], metrics["D95"], metrics["D50"], metrics["D2"]) == (3, 6, 51, 99)
    assert metrics["V60Gy"] == pytest.approx(41.0)
    assert metrics["V70Gy"] == pytest.approx(31.0)


def test_dose_mapping_recovers_a_known_rigid_offset(patient):
    shift = np.array([6.0, -4.5, 3.0])
    mapping = map_dose(patient["ct"], patient["planning_ct"], patient["dose"], seed=0)
    mapped_origin = np.array(mapping.transform.TransformPoint((0.0, 0.0, 0.0)))
    assert np.all(np.abs(mapped_origin - shift) <= np.array(patient["ct"].GetSpacing()))
    assert not mapping.failed and mapping.correlation > 0.6
    lesion = find_lesions(patient["label"])[0]
    dose = sitk.GetArrayFromImage(mapping.dose_on(lesion.mask.grid, lesion.mask.region))
    z, y, x = (np.argwhere(lesion.mask.array) + np.array(lesion.mask.region.lower)[::-1]).T
    points = np.array([lesion.mask.grid.index_to_point((i, j, k)) for i, j, k in zip(x, y, z,
                                                                                    strict=True)])
    expected = dose_gy(points[:, 2], points[:, 1], points[:, 0])
    # Fall-off 1.5 Gy/mm: 2 Gy allows the sub-voxel (~1 mm) registration error of this tiny
    # phantom, while mapping the dose the wrong way round would be off by ~16 Gy.
    assert np.abs(dose[lesion.mask.array] - expected).max() < 2.0


def _neck_on_a_couch(shift_mm: np.ndarray, rng: np.random.Generator) -> sitk.Image:
    """A registration image (4 mm voxels, 512 mm field of view): a 10 cm neck moved by
    ``shift_mm``, lying above a couch plate that stays where the scanner has it."""
    spacing, size, origin = 4.0, (128, 128, 40), (-256.0, -256.0, -80.0)
    axes = [o + spacing * np.arange(n) for n, o in zip(size, origin, strict=True)]
    z, y, x = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    hu = anatomy_hu(z - shift_mm[2], y - shift_mm[1], x - shift_mm[0], rng)
    hu[np.abs(z - shift_mm[2] - 10.0) > 50.0] = -1000.0
    plate = (y >= 50.0) & (y < 62.0)
    hu[plate] = np.maximum(hu[plate], 120.0)
    image = sitk.GetImageFromArray(hu.astype(np.float32))
    image.SetSpacing((spacing,) * 3)
    image.SetOrigin(origin)
    return image


def test_registration_follows_the_patient_not_the_couch():
    """The couch is fixed in each scanner while the patient moves with the set-up offset; a
    metric sampled over the whole image aligns the couches and leaves the patient's vertical
    offset (here 4.5 mm) uncorrected, so the dose lands mm away from where it was planned."""
    rng = np.random.default_rng(0)
    shift = np.array([6.0, -4.5, 3.0])
    fixed, moving = _neck_on_a_couch(np.zeros(3), rng), _neck_on_a_couch(shift, rng)
    assert dose_module.body_mask(fixed) is not None

    def vertical_error(settings: dose_module.RegistrationSettings) -> float:
        transform, _, _ = dose_module._register(fixed, moving, 0, settings)
        return abs(transform.TransformPoint((0.0, 0.0, 0.0))[1] - shift[1])

    transform, _, body = dose_module._register(fixed, moving, 0, dose_module.REGISTRATION)
    assert abs(transform.TransformPoint((0.0, 0.0, 0.0))[1] - shift[1]) < 1.0
    whole_image = dataclasses.replace(dose_module.REGISTRATION, body_only=False)
    assert vertical_error(whole_image) > 3.0
    # The check of the result: the misaligned couches must not flag a good registration.
    correlation = dose_module.alignment_correlation
    assert correlation(fixed, moving, transform, body) >= dose_module.MIN_REGISTRATION_CORRELATION
    assert correlation(fixed, moving, transform) < dose_module.MIN_REGISTRATION_CORRELATION


def test_body_mask_leaves_out_the_couch_and_is_none_without_a_body():
    image = _neck_on_a_couch(np.zeros(3), np.random.default_rng(1))
    body = sitk.GetArrayFromImage(dose_module.body_mask(image)).astype(bool)
    y = image.GetOrigin()[1] + 4.0 * np.arange(image.GetSize()[1])
    assert not body[:, (y >= 50.0) & (y < 62.0), :].any()  # the plate
    assert body[:, np.abs(y - 3.0) < 20.0, :].sum() > 1_000  # the neck
    air = sitk.Image(image.GetSize(), sitk.sitkFloat32) - 1000.0
    air.CopyInformation(image)
    assert dose_module.body_mask(air) is None


def test_dose_cut_to_the_lesions_maps_the_same_dose_in_less_memory(patient):
    """extract keeps only the lesions' part of a dose map (memory per worker): the dose mapped
    onto each lesion's region, and onto a region at the edge of the CT (the cut then reaches the
    dose map's edge), must not change."""
    from radiomics_hnc.features.geometry import Region

    mapping = map_dose(patient["ct"], patient["planning_ct"], patient["dose"], seed=0)
    grid = Grid.of(patient["ct"])
    regions = [lesion.mask.region.padded(5, grid) for lesion in find_lesions(patient["label"])]
    regions.append(Region((0, 0, 0), (4, 4, grid.size[2] - 1)))
    cropped = mapping.cropped(grid, regions)
    assert np.prod(cropped.dose.GetSize()) < 0.8 * np.prod(mapping.dose.GetSize())
    for region in regions:
        full = sitk.GetArrayFromImage(mapping.dose_on(grid, region))
        part = sitk.GetArrayFromImage(cropped.dose_on(grid, region))
        np.testing.assert_allclose(part, full, rtol=1e-12, atol=1e-12)
    only_lesions = mapping.cropped(grid, regions[:-1])
    assert np.prod(only_lesions.dose.GetSize()) < 0.5 * np.prod(mapping.dose.GetSize())


def test_dose_features_on_a_mapped_crop_equal_pyradiomics_on_the_full_mapped_dose(patient):
    from radiomics_hnc.features.geometry import Region

    params = load_feature_configs().params("dose")
    mapping = map_dose(patient["ct"], patient["planning_ct"], patient["dose"])
    mask, mask_image = _lesion_image(patient, "GTVp")
    full = Region((0, 0, 0), tuple(n - 1 for n in mask.grid.size))
    reference = RadiomicsFeatureExtractor(params).execute(mapping.dose_on(mask.grid, full),
                                                          mask_image)
    extractor = LesionFeatureExtractor(params, "RTDOSE")
    region, _ = extractor.prepare(mask)
    ours = extractor.extract(mapping.dose_on(mask.grid, region), mask)
    _assert_same_features(ours, reference, "RTDOSE")


def test_lesion_features_for_a_notebook_user(patient):
    mask, mask_image = _lesion_image(patient, "GTVp")
    row = lesion_features(patient["ct"], patient["pet"], mask_image)
    assert row["MASK_volume_ml"] == pytest.approx(mask.volume_ml())
    assert row["PT_suv_SUVmax"] >= row["PT_suv_SUVpeak"] >= row["PT_suv_SUVmean"] > 0
    assert np.isnan(row["RTDOSE_dvh_D95"])


# --- tables ----------------------------------------------------------------------------------

def test_patient_table_scopes_and_aggregates():
    import pandas as pd

    from radiomics_hnc.features.tables import patients_table

    lesions = pd.DataFrame({
        "patient_id": ["A-1", "A-1", "A-1", "B-2"],
        "lesion_id": ["GTVp", "GTVn_1", "GTVn_2", "GTVn_1"],
        "label": [1, 2, 2, 2],
        "centroid_x_mm": [0.0, 30.0, 0.0, 5.0], "centroid_y_mm": [0.0, 40.0, 10.0, 5.0],
        "centroid_z_mm": [0.0, 0.0, 0.0, 5.0],
        "MASK_volume_ml": [10.0, 2.0, 1.0, 3.0],
        "PT_suv_SUVmax": [12.0, 6.0, 8.0, 4.0],
        "PT_suv_TLG": [50.0, 5.0, 4.0, 6.0],
    })
    manifest = pd.DataFrame({"patient_id": ["A-1", "B-2", "C-3"], "center": ["A", "B", "C"],
                             "age": [60.0, 70.0, 50.0], "rfs_days": [100.0, 200.0, 300.0]})
    table = patients_table(lesions, manifest, ["A-1", "B-2", "C-3"]).set_index("patient_id")
    assert table.loc["A-1", "GTVp_PT_suv_SUVmax"] == 12.0
    assert np.isnan(table.loc["B-2", "GTVp_PT_suv_SUVmax"])  # no primary
    assert table.loc["A-1", "GTVn_MASK_count"] == 2 and table.loc["C-3", "GTVn_MASK_count"] == 0
    assert table["GTVp_MASK_count"].tolist() == [1.0, 0.0, 0.0]  # primary visible or not
    assert table.loc["A-1", "GTVn_MASK_volume_ml_mean"] == 1.5
    assert table.loc["A-1", "GTVn_PT_suv_SUVmax_max"] == 8.0
    assert table.loc["A-1", "GTVn_MASK_volume_ml_sum"] == 3.0
    assert table.loc["A-1", "GTVall_PT_suv_TLG"] == 59.0
    assert table.loc["A-1", "GTVall_MASK_max_centroid_distance_mm"] == pytest.approx(50.0)
    assert table.loc["B-2", "GTVall_MASK_max_centroid_distance_mm"] == 0.0
    assert np.isnan(table.loc["C-3", "GTVall_PT_suv_TLG"])
    assert table.loc["B-2", "rfs_days"] == 200.0
    assert not any(c.startswith("GTVp_centroid") for c in table.columns)


def test_patient_table_of_a_cohort_without_any_lesion():
    """Every mask empty (a valid case, e.g. predicted masks): counts 0, no crash."""
    import pandas as pd

    from radiomics_hnc.features.tables import lesions_frame, patients_table

    manifest = pd.DataFrame({"patient_id": ["A-1", "B-2"], "center": ["A", "B"]})
    table = patients_table(lesions_frame([]), manifest, ["A-1", "B-2"])
    assert table["GTVall_MASK_count"].tolist() == [0.0, 0.0]
    assert table["GTVall_MASK_max_centroid_distance_mm"].isna().all()
