"""Segmenter: preprocessing geometry, training with resume, prediction on the CT grid,
evaluation and the CLI, on tiny PET/CT phantoms (CT and PET on different grids)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import torch
from typer.testing import CliRunner

from radiomics_hnc.cli import app
from radiomics_hnc.errors import ConfigError, InputDataError
from radiomics_hnc.geometry import Grid
from radiomics_hnc.io import write_image, write_parquet
from radiomics_hnc.segment import (
    evaluate_masks,
    load_segmenter_spec,
    predict_cohort,
    train_segmenter,
)
from radiomics_hnc.segment.metrics import dice
from radiomics_hnc.segment.preprocess import paste_back, preprocess_images
from radiomics_hnc.segment.spec import SegmentationSpec, default_spec_path
from radiomics_hnc.segment.train import (
    LAST_CHECKPOINT,
    LOG_FILE,
    cosine_factor,
    crop_centres,
    segmentation_loss,
    validation_subset,
)
from tests.hostile import TouchOnUnpickle

CT_DIRECTION = (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)  # x flipped: not the identity
BRAIN_XYZ = (12.0, 0.0, 38.0)
BRAIN_RADIUS_MM = 12.0

TINY_SPEC = {
    "name": "tiny",
    "network": {"name": "unet", "channels": [4, 8], "strides": [2], "num_res_units": 0},
    "preprocess": {"spacing_mm": 4.0},
    "training": {"epochs": 2, "patch_size": [16, 16, 16], "batch_size": 2,
                 "patches_per_volume": 2, "validation_interval": 1, "learning_rate": 0.01,
                 "hot_background_ratio": 1.0},
    "inference": {"sw_batch_size": 4, "min_gtvp_ml": 0.0, "min_gtvn_ml": 0.0},
}


def _image(size, spacing, origin, direction, func, pixel=np.float32) -> sitk.Image:
    """Image whose voxel values are ``func(x, y, z)`` of the voxel centres (mm, LPS)."""
    k, j, i = np.meshgrid(*(np.arange(n) for n in size[::-1]), indexing="ij")  # z, y, x
    index = np.stack([i, j, k], axis=-1) * np.asarray(spacing)
    points = np.asarray(origin) + index @ np.asarray(direction).reshape(3, 3).T
    image = sitk.GetImageFromArray(func(*np.moveaxis(points, -1, 0)).astype(pixel))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(direction)
    return image


def _ball(x, y, z, centre, radius):
    return (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 <= radius**2


def make_patient(seed: int) -> tuple[sitk.Image, sitk.Image, sitk.Image]:
    """CT (2.5 mm, x flipped), PET (4 mm, identity, shifted) and label on the CT grid."""
    rng = np.random.default_rng(seed)
    primary = (rng.uniform(-10, 10), rng.uniform(-20, -5), rng.uniform(-10, 10))
    node = (rng.choice([-30.0, 30.0]), rng.uniform(0, 10), rng.uniform(-35, -25))

    def label(x, y, z):
        return np.where(_ball(x, y, z, primary, 11), 1, np.where(_ball(x, y, z, node, 7), 2, 0))

    def hu(x, y, z):
        body = x**2 / 55**2 + y**2 / 45**2 <= 1
        return np.where(body, 40 + 30 * (label(x, y, z) > 0), -1000)

    def suv(x, y, z):
        lab = label(x, y, z)
        brain = _ball(x, y, z, BRAIN_XYZ, BRAIN_RADIUS_MM)
        return 1.0 + 7.0 * brain + 8.0 * (lab == 1) + 5.0 * (lab == 2)

    ct_geometry = ((40, 40, 48), (2.5, 2.5, 2.5), (50.0, -50.0, -60.0), CT_DIRECTION)
    ct = _image(*ct_geometry, hu, np.int16)
    pet = _image((32, 32, 38), (4.0, 4.0, 4.0), (-62.0, -58.0, -74.0), tuple(np.eye(3).ravel()),
                 suv)
    return ct, pet, _image(*ct_geometry, label, np.uint8)


def _write_cohort(root, centres=("CHUM", "HGJ"), per_centre=3) -> None:
    rows = []
    for c, centre in enumerate(centres):
        for n in range(per_centre):
            pid = f"{centre}-{n + 1:03d}"
            paths = {role: root / "data" / f"{pid}__{role}.nii.gz" for role in ("ct", "pet", "lab")}
            for image, path in zip(make_patient(10 * c + n), paths.values(), strict=True):
                write_image(image, path)
            rows.append({"patient_id": pid, "center": centre, "ct_path": str(paths["ct"]),
                         "pet_path": str(paths["pet"]), "label_path": str(paths["lab"])})
    write_parquet(pd.DataFrame(rows), root / "manifest.parquet")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A workspace of six phantoms and a model trained for two epochs."""
    ws = tmp_path_factory.mktemp("ws")
    _write_cohort(ws)
    model = ws / "model"
    result = train_segmenter(ws, SegmentationSpec.model_validate(TINY_SPEC), model)
    return ws, model, result


def test_spec_rejects_unknown_keys_and_ships_defaults(tmp_path):
    for name in ("seg_unet_light", "seg_segresnet_light", "seg_unet_demo"):
        assert load_segmenter_spec(default_spec_path(name)).name == name
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nnetwork: {name: unet, chanels: [4, 8]}\n")
    with pytest.raises(ConfigError, match="chanels"):
        load_segmenter_spec(bad)


def test_crop_and_resampling_round_trip_label_without_moving_it():
    ct, pet, label = make_patient(0)
    settings = load_segmenter_spec().preprocess.model_copy(update={"spacing_mm": 2.5})
    case = preprocess_images(ct, pet, label, settings)
    assert case.image.shape[0] == 2 and case.label.shape[1:] == case.image.shape[1:]
    back = paste_back(case.label[0], case.grid, Grid.of(ct))
    assert back.GetSize() == ct.GetSize() and back.GetDirection() == ct.GetDirection()
    truth, returned = sitk.GetArrayFromImage(label), sitk.GetArrayFromImage(back)
    for value in (1, 2):
        assert dice(truth == value, returned == value) > 0.95
        shift = (np.argwhere(truth == value).mean(0) - np.argwhere(returned == value).mean(0))
        assert np.abs(shift).max() < 0.5  # voxels


def test_crop_box_hangs_below_the_brain_found_in_the_top_of_the_pet():
    ct, pet, _ = make_patient(1)
    settings = load_segmenter_spec().preprocess.model_copy(
        update={"crop_size_mm": (60.0, 200.0, 60.0), "brain_top_margin_mm": 4.0})
    grid = preprocess_images(ct, pet, None, settings).grid
    low = np.asarray(grid.origin) - np.asarray(grid.spacing) / 2  # origin is a voxel centre
    high = low + np.asarray(grid.size) * np.asarray(grid.spacing)
    centre_x = (low[0] + high[0]) / 2
    assert centre_x == pytest.approx(BRAIN_XYZ[0], abs=4.0)  # x (not z) follows the brain
    assert high[2] == pytest.approx(BRAIN_XYZ[2] + BRAIN_RADIUS_MM + 4.0, abs=4.0)
    assert high[2] - low[2] == pytest.approx(60.0, abs=4.0)


def test_training_writes_checkpoints_and_log_then_resumes(trained):
    ws, model, result = trained
    assert (model / "best.pt").is_file() and (model / LAST_CHECKPOINT).is_file()
    log = pd.read_csv(model / LOG_FILE)
    assert list(log["epoch"]) == [1, 2]
    assert {"train_loss", "val_dsc_agg_gtvp", "val_dsc_agg_gtvn"} <= set(log.columns)
    assert result.validation_patients == ["CHUM-001", "CHUM-002", "CHUM-003"]  # a whole centre
    resumed_dir = ws / "resumed"
    shutil.copytree(model, resumed_dir)
    resumed = train_segmenter(ws, SegmentationSpec.model_validate(TINY_SPEC), resumed_dir,
                              epochs=3)
    log3 = pd.read_csv(resumed_dir / LOG_FILE)
    assert list(log3["epoch"]) == [1, 2, 3] and resumed.epochs_run == 3
    pd.testing.assert_frame_equal(log3.iloc[:2], log)  # earlier epochs were not redone
    other = {**TINY_SPEC, "network": {**TINY_SPEC["network"], "channels": [4, 6]}}
    with pytest.raises(ConfigError, match="another spec"):
        train_segmenter(ws, SegmentationSpec.model_validate(other), resumed_dir)


def test_crafted_checkpoints_are_refused_without_running_code(trained, tmp_path):
    ws, model, _ = trained
    marker, crafted = tmp_path / "marker", tmp_path / "crafted.pt"
    torch.save({"model": {}, "epoch": TouchOnUnpickle(marker)}, crafted)
    torch.load(crafted, weights_only=False)  # live: the unsafe load creates the marker
    assert marker.exists()
    marker.unlink()
    folder = tmp_path / "model"
    shutil.copytree(model, folder)
    shutil.copy(crafted, folder / LAST_CHECKPOINT)
    with pytest.raises(InputDataError, match=r"last\.pt: checkpoint refused: it is not a plain "
                                             r"file of tensors and values \(getattr\)"):
        train_segmenter(ws, SegmentationSpec.model_validate(TINY_SPEC), folder, epochs=3,
                        cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # refused before any preprocessing
    shutil.copy(crafted, folder / "best.pt")
    with pytest.raises(InputDataError, match=r"best\.pt: checkpoint refused"):
        predict_cohort(ws, folder)
    assert not marker.exists()


def test_time_limit_stops_early_with_a_validated_checkpoint(trained, tmp_path):
    ws, _, _ = trained
    limited = {**TINY_SPEC, "training": {**TINY_SPEC["training"], "epochs": 50,
                                         "validation_interval": 10, "time_limit_minutes": 1e-4}}
    result = train_segmenter(ws, SegmentationSpec.model_validate(limited), tmp_path / "m")
    assert result.epochs_run == 1 and result.best_epoch == 1
    assert not np.isnan(result.log.loc[0, "val_dsc_agg_mean"])
    assert cosine_factor(0.0) == 1.0 and cosine_factor(1.0) == pytest.approx(0.01)


def test_patch_centres_include_every_hot_region_outside_the_lesions():
    label = np.zeros((1, 40, 40, 40), np.uint8)
    label[0, 5:10, 5:10, 5:10] = 1
    pet = np.zeros((40, 40, 40), np.float32)
    pet[5:10, 5:10, 5:10] = 4.5  # the primary: its rim (its 25th percentile) ...
    pet[6:9, 6:9, 6:9] = 12.0  # ... and its hotter core
    pet[20:40, 20:40, 20:40] = 6.0  # a large "brain"
    pet[2:4, 30:32, 2:4] = 5.0  # a small "tonsil", 8 voxels
    image = np.stack([np.zeros_like(pet), pet])
    centres = crop_centres(image, label, seed=3)
    flat_label, flat_pet = label[0].ravel(), pet.ravel()
    assert set(flat_label[centres[1]]) == {1} and len(centres[2]) == 0  # GTVp, no GTVn
    hot = centres[3]
    assert set(flat_label[hot]) == {0} and flat_pet[hot].min() >= 4.5
    tonsil = flat_pet[hot] == 5.0
    assert tonsil.sum() == 8 and (~tonsil).sum() == 64  # each region sampled, brain capped
    assert all(np.array_equal(a, b)
               for a, b in zip(centres, crop_centres(image, label, seed=3), strict=True))


def test_validation_during_training_scores_a_fixed_capped_subset():
    spec = SegmentationSpec.model_validate(TINY_SPEC)
    cases = list(range(10))
    assert validation_subset(cases, spec) == cases  # default: every validation patient
    capped = spec.model_copy(update={"training": spec.training.model_copy(
        update={"validation_max_patients": 3})})
    chosen = validation_subset(cases, capped)
    assert len(chosen) == 3 and chosen == validation_subset(cases, capped) == sorted(chosen)


def test_the_demo_trains_its_own_segmenter_spec_within_its_minutes(tmp_path, monkeypatch):
    import radiomics_hnc.demo as demo_module

    seen = {}

    def pipeline_recording_its_settings(data, workspace, settings):
        seen["settings"] = settings
        return []

    monkeypatch.setattr(demo_module, "run_stages", lambda *args, **kwargs: [])
    monkeypatch.setattr(demo_module, "run_pipeline", pipeline_recording_its_settings)
    monkeypatch.setattr(demo_module, "headline", lambda workspace: None)
    monkeypatch.setattr(demo_module, "oracle_within_centre", lambda truth_dir: {})
    truth = tmp_path / "cohort" / "ground_truth"
    truth.mkdir(parents=True)
    (truth / "oracle.json").write_text("{}")
    demo_module.demo(tmp_path)
    settings = seen["settings"]
    spec = load_segmenter_spec(settings.segmenter_spec)
    assert spec.name == "seg_unet_demo" and settings.segmenter_minutes == 8.0
    assert spec.training.time_limit_minutes == settings.segmenter_minutes
    # the shipped light UNet keeps its full-scale settings
    assert load_segmenter_spec().network.num_res_units == 1


def _confident_logits(labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Logits (batch, 3, ...) favouring the true class of every voxel by ``margin``."""
    return margin * torch.nn.functional.one_hot(labels[:, 0].long(), 3).movedim(-1, 1).float()


def test_loss_does_not_drown_nodes_absent_from_a_patch_and_weighs_them():
    labels = torch.zeros((2, 1, 8, 8, 8), dtype=torch.uint8)
    labels[0, 0, 2:5, 2:5, 2:5] = 2  # a node in the first patch only ...
    labels[1, 0, 3:7, 3:7, 3:7] = 1  # ... a primary in the second only
    good = _confident_logits(labels, 8.0)  # right everywhere, by a wide margin
    training = SegmentationSpec.model_validate(TINY_SPEC).training
    per_patch = segmentation_loss(training, torch.device("cpu"))
    over_batch = segmentation_loss(training.model_copy(update={"dice_over_batch": True}),
                                   torch.device("cpu"))
    # Per patch, a patch's Dice of a class it lacks is 0/(tiny softmax mass): a near-perfect
    # prediction still costs a third of the maximum; over the batch it costs nothing.
    assert per_patch(good, labels) > 0.3 and over_batch(good, labels) < 0.01
    missed_node = good.clone()
    missed_node[0, :, 2:5, 2:5, 2:5] = _confident_logits(torch.ones((1, 1, 3, 3, 3)), 8.0)[0]
    weighted = segmentation_loss(training.model_copy(update={
        "dice_over_batch": True, "loss_class_weights": (1.0, 1.0, 3.0)}), torch.device("cpu"))
    assert weighted(missed_node, labels) > 1.5 * over_batch(missed_node, labels)


def test_prediction_has_the_ct_geometry_and_skips_bad_and_done_patients(trained):
    ws, model, _ = trained
    manifest = pd.read_parquet(ws / "manifest.parquet")
    broken = manifest.copy()
    broken.loc[0, "pet_path"] = str(ws / "missing_pet.nii.gz")
    write_parquet(broken, ws / "manifest.parquet")
    try:
        table = predict_cohort(ws, model)
    finally:
        write_parquet(manifest, ws / "manifest.parquet")
    status = dict(zip(table["patient_id"], table["status"], strict=True))
    assert status.pop("CHUM-001") == "failed" and set(status.values()) == {"written"}
    for pid in status:
        mask = sitk.ReadImage(str(ws / "masks" / f"{pid}.nii.gz"))
        ct = sitk.ReadImage(manifest.set_index("patient_id").loc[pid, "ct_path"])
        assert mask.GetSize() == ct.GetSize() and mask.GetSpacing() == ct.GetSpacing()
        assert mask.GetOrigin() == ct.GetOrigin() and mask.GetDirection() == ct.GetDirection()
        assert set(np.unique(sitk.GetArrayFromImage(mask))) <= {0, 1, 2}
    again = predict_cohort(ws, model)
    assert (again.set_index("patient_id").loc[list(status), "status"] == "up to date").all()


def test_evaluation_of_ground_truth_is_perfect_and_written(trained, tmp_path):
    ws, _, _ = trained
    manifest = pd.read_parquet(ws / "manifest.parquet")
    for row in manifest.itertuples():
        shutil.copy(row.label_path, tmp_path / f"{row.patient_id}.nii.gz")
    (tmp_path / "HGJ-003.nii.gz").unlink()
    result = evaluate_masks(ws, tmp_path)
    overall = result.summary.overall
    assert overall.dsc_agg_gtvp == overall.dsc_agg_gtvn == overall.f1agg_gtvn == 1.0
    assert [f.patient_id for f in result.failures] == ["HGJ-003"]
    written = pd.read_parquet(ws / "segmentation" / "segmentation_metrics.parquet")
    assert len(written) == 5 and (written["dice_gtvp"] == 1.0).all()
    written_summary = json.loads((ws / "segmentation" / "summary.json").read_text())
    assert written_summary["masks_dir"] == str(tmp_path)  # outside the workspace: absolute
    # No model folder (none given, no WORKSPACE/segmenter): training patients are unknown.
    assert result.summary.segmenter is None and "not_trained_on" not in written_summary
    assert "trained_on" not in written.columns


def _masks_good_on_training_patients(ws, folder) -> None:
    """Masks equal to the label for HGJ (the tiny model's training centre); for CHUM (its
    validation centre) without the nodes, so that unseen-patient figures differ."""
    folder.mkdir(exist_ok=True)
    for row in pd.read_parquet(ws / "manifest.parquet").itertuples():
        label = sitk.ReadImage(row.label_path)
        if row.center == "CHUM":
            label = sitk.Mask(label, label != 2)
        sitk.WriteImage(label, str(folder / f"{row.patient_id}.nii.gz"))


def test_evaluation_sets_apart_the_patients_the_segmenter_was_trained_on(trained, tmp_path):
    ws, model, result = trained
    assert result.train_patients == ["HGJ-001", "HGJ-002", "HGJ-003"]
    _masks_good_on_training_patients(ws, tmp_path / "masks")
    evaluated = evaluate_masks(ws, tmp_path / "masks", model_dir=model)
    summary = evaluated.summary
    assert summary.segmenter == str(model)
    unseen, overall = summary.not_trained_on, summary.overall
    assert unseen.n_patients == 3 and unseen.n_trained_on == 0
    assert unseen.dsc_agg_gtvn == 0.0 and unseen.dsc_agg_gtvp == 1.0
    assert overall.n_patients == 6 and overall.n_trained_on == 3
    assert 0.0 < overall.dsc_agg_gtvn < 1.0  # training patients lift the all-patient figure
    assert list(summary.not_trained_on_by_center) == ["CHUM"]
    assert summary.by_center["HGJ"].n_trained_on == 3
    written = pd.read_parquet(ws / "segmentation" / "segmentation_metrics.parquet")
    assert dict(zip(written["patient_id"], written["trained_on"], strict=True)) == {
        f"{c}-00{n}": c == "HGJ" for c in ("CHUM", "HGJ") for n in (1, 2, 3)}


def _as_finished_run(model: Path, folder: Path) -> Path:
    """A copy of a model folder whose model.json says its validation score had stabilised."""
    shutil.copytree(model, folder)
    info = json.loads((folder / "model.json").read_text())
    info["training"]["validation_stabilised"] = True
    (folder / "model.json").write_text(json.dumps(info))
    return folder


def test_report_and_cli_headline_is_the_unseen_patient_figure(trained, tmp_path):
    from radiomics_hnc.report import build_report
    from radiomics_hnc.segment.summary import SegmentationSummary

    ws, model, _ = trained
    model = _as_finished_run(model, tmp_path / "finished")
    _masks_good_on_training_patients(ws, tmp_path / "masks")
    cli = CliRunner().invoke(app, ["segment", "evaluate", str(ws), "--masks",
                                   str(tmp_path / "masks"), "--model", str(model)])
    assert cli.exit_code == 0, cli.output
    summary = SegmentationSummary.read(ws / "segmentation" / "summary.json")
    headline = summary.headline()
    assert headline.metrics == summary.not_trained_on and headline.metrics.n_patients == 3
    expected = (f"DSCagg mean {summary.not_trained_on.dsc_agg_mean:.3f} (GTVp 1.000, "
                "GTVn 0.000)")
    assert expected in headline.text() and "patients not used to train the segmenter" in (
        headline.text())
    assert f"headline: {headline.text()}" in " ".join(cli.output.split())
    html = build_report(ws, tmp_path / "report", dpi=30).read_text()
    assert f"Headline: {headline.text()}." in html
    table = pd.read_csv(tmp_path / "report" / "tables" / "segmentation_summary.csv")
    first = table.iloc[0]
    assert first["Scope"] == "Not trained on: All centres"
    assert first["DSCagg mean"] == round(summary.not_trained_on.dsc_agg_mean, 4)
    labelled = table.set_index("Scope")
    assert labelled.loc["All centres (includes patients the segmenter was trained on)",
                        "n patients"] == 6
    assert "HGJ (includes patients the segmenter was trained on)" in labelled.index
    assert "CHUM" not in labelled.index  # no training patient: same as its unseen row


def test_an_under_trained_segmenter_gives_no_headline_figures(trained, tmp_path):
    """Two epochs, validation score not stabilised: model.json records it, and the CLI, the
    report and the pipeline's headline say the figures are not meaningful instead of showing
    them as results."""
    from radiomics_hnc.headline import headline
    from radiomics_hnc.report import build_report

    ws, model, result = trained
    training = json.loads((model / "model.json").read_text())["training"]
    assert training["epochs_run"] == 2 and training["validation_stabilised"] is False
    assert training["minutes"] == pytest.approx(result.log["seconds"].sum() / 60, abs=0.01)
    _masks_good_on_training_patients(ws, tmp_path / "masks")
    cli = CliRunner().invoke(app, ["segment", "evaluate", str(ws), "--masks",
                                   str(tmp_path / "masks"), "--model", str(model)])
    assert cli.exit_code == 0, cli.output
    expected = (f"segmenter under-trained: 2 epochs in {training['minutes']:.1f} min; "
                "figures not meaningful")
    assert f"headline: {expected}" in " ".join(cli.output.split())
    assert headline(ws).lines() == [f"segmentation: {expected}"]
    assert "DSCagg" not in headline(ws).lines()[0]
    html = build_report(ws, tmp_path / "report", dpi=30).read_text()
    assert f"Headline: {expected}." in html


def test_validation_has_stabilised_when_its_last_three_scores_agree():
    from radiomics_hnc.segment.summary import validation_stabilised

    assert validation_stabilised([0.2, 0.80, 0.81, 0.805])
    assert not validation_stabilised([0.2, 0.5, 0.7])  # still climbing
    assert not validation_stabilised([0.0, 0.0])  # too few validations
    assert validation_stabilised([0.6, float("nan"), 0.61, 0.6])  # undefined scores skipped
    # a flat mean with one label never learnt (nodes at 0) is not a finished run
    assert not validation_stabilised([0.40, 0.40, 0.40], [0.80, 0.0])
    assert validation_stabilised([0.40, 0.40, 0.40], [0.80, float("nan")])  # no nodes to learn


def test_evaluation_needs_a_finished_model_folder(trained, tmp_path):
    ws, model, _ = trained
    _masks_good_on_training_patients(ws, tmp_path / "masks")
    unfinished = tmp_path / "unfinished"
    shutil.copytree(model, unfinished)
    (unfinished / "model.json").unlink()
    with pytest.raises(ConfigError, match=r"unfinished/model\.json: no model\.json in the "
                                          r"segmenter's model folder"):
        evaluate_masks(ws, tmp_path / "masks", model_dir=unfinished)
    (unfinished / "model.json").write_text('{"train_patients": "HGJ-001"}')
    with pytest.raises(InputDataError, match="no list of training patient ids"):
        evaluate_masks(ws, tmp_path / "masks", model_dir=unfinished)
    # By default the workspace's own segmenter folder says who was trained on.
    copy = tmp_path / "ws"
    copy.mkdir()
    shutil.copy(ws / "manifest.parquet", copy / "manifest.parquet")
    shutil.copytree(model, copy / "segmenter")
    summary = evaluate_masks(copy, tmp_path / "masks").summary
    assert summary.segmenter == str(copy / "segmenter")
    assert summary.not_trained_on.n_patients == 3


def test_cli_predict_and_evaluate(trained):
    ws, model, _ = trained
    runner = CliRunner()
    predicted = runner.invoke(app, ["segment", "predict", str(ws), "--model", str(model)])
    assert predicted.exit_code == 0, predicted.output
    again = runner.invoke(app, ["segment", "predict", str(ws), "--model", str(model),
                                "--overwrite"])  # the old spelling of --force
    assert again.exit_code == 0, again.output
    assert "--overwrite is deprecated, use --force" in again.output
    assert "written" in again.output and "up to date" not in again.output
    evaluated = runner.invoke(app, ["segment", "evaluate", str(ws)])
    assert evaluated.exit_code == 0, evaluated.output
    assert "DSCagg" in evaluated.output and "HGJ" in evaluated.output


def test_prediction_killed_mid_run_resumes_to_identical_masks(trained, tmp_path):
    ws, model, _ = trained
    interrupted, uninterrupted = tmp_path / "interrupted", tmp_path / "uninterrupted"
    for folder in (interrupted, uninterrupted):
        folder.mkdir()
        shutil.copy(ws / "manifest.parquet", folder / "manifest.parquet")
    code = ("import sys; from radiomics_hnc.segment import predict_cohort; "
            "predict_cohort(sys.argv[1], sys.argv[2])")
    process = subprocess.Popen([sys.executable, "-c", code, str(interrupted), str(model)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    masks = interrupted / "masks"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(masks.glob("[!.]*.nii.gz"))) < 1:
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = {p.name for p in masks.glob("[!.]*.nii.gz")}
    assert 1 <= len(done_before) < 6, "the kill must land in the middle of the run"
    resumed = predict_cohort(interrupted, model).set_index("patient_id")["status"]
    assert (resumed[[n.removesuffix(".nii.gz") for n in done_before]] == "up to date").all()
    assert set(resumed) <= {"up to date", "written"}
    predict_cohort(uninterrupted, model)
    for path in sorted((uninterrupted / "masks").glob("*.nii.gz")):
        expected = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
        found = sitk.GetArrayFromImage(sitk.ReadImage(str(masks / path.name)))
        np.testing.assert_array_equal(found, expected)
