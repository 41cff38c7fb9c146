"""Feature folders per mask source, a content-keyed extraction cache, one writer per stage."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import radiomics
import SimpleITK as sitk

from radiomics_hnc.errors import ConfigError, WorkspaceBusyError
from radiomics_hnc.features import extract as extract_module
from radiomics_hnc.features import extract_features
from radiomics_hnc.io import provenance, read_provenance, write_parquet
from radiomics_hnc.locks import LOCKS_DIR, lock_name, stage_lock
from radiomics_hnc.mask_sources import MaskSource, folder_source, run_suffix
from tests.features_phantoms import make_patient, many_patient_workspace, write_workspace

radiomics.setVerbosity(logging.ERROR)
CLI = "from radiomics_hnc.cli import main; main()"


def _patient(seed: int) -> dict[str, sitk.Image]:
    images = make_patient(seed=seed)
    del images["planning_ct"], images["dose"]
    return images


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """Two patients extracted from ground truth, and a folder of the user's own label maps."""
    root = tmp_path_factory.mktemp("sources")
    ws = write_workspace(root, {"CHUM-001": _patient(1), "CHUP-002": _patient(2)})
    own = _mkdir(root / "my masks")
    for pid in ("CHUM-001", "CHUP-002"):
        shutil.copy(root / "data" / f"{pid}__label.nii.gz", own / f"{pid}.nii.gz")
    extract_features(ws, min_lesion_ml=0.4)
    return ws, own


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _copy(ws: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "ws"
    shutil.copytree(ws, copy)
    return copy


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.parquet"))}


def test_tables_record_the_mask_source_and_every_setting(extracted):
    ws, _ = extracted
    for name in ("lesions", "patients", "errors"):
        record = read_provenance(ws / "features" / f"{name}.parquet")
        assert record["mask_source"] == "ground-truth" and record["masks_path"] is None
        assert record["min_lesion_ml"] == 0.4 and record["seed"] == 0
        assert set(record["config_sha256_by_modality"]) == {"ct", "pet", "dose"}
        assert record["config_sha256"] and record["config_sources"]["ct"] == "default:ct.yaml"


def test_a_folder_of_own_masks_gets_its_own_features_folder(extracted, tmp_path):
    ws = _copy(extracted[0], tmp_path)
    own = extracted[1]
    before = _snapshot(ws / "features")
    result = extract_features(ws, masks=own, min_lesion_ml=0.4)
    assert result.paths["patients"] == ws / "features_my_masks" / "patients.parquet"
    assert _snapshot(ws / "features") == before  # ground truth's tables untouched
    record = read_provenance(result.paths["lesions"])
    assert record["mask_source"] == "folder" and record["masks_path"] == str(own.resolve())
    assert folder_source(ws / "features_my_masks") == MaskSource("folder", own.resolve())
    assert folder_source(ws / "features") == MaskSource("ground-truth")
    # copies of the same label maps, so the same features
    pd.testing.assert_frame_equal(result.lesions, pd.read_parquet(ws / "features" /
                                                                  "lesions.parquet"))


def test_another_source_into_a_folder_with_tables_is_refused_without_force(extracted,
                                                                           tmp_path):
    ws = _copy(extracted[0], tmp_path)
    own = extracted[1]
    before = _snapshot(ws / "features")
    with pytest.raises(ConfigError, match=r"holds features from ground-truth masks .*this run "
                       r"extracts from the label maps in .*my masks.*--force"):
        extract_features(ws, masks=own, out_dir=ws / "features")
    assert _snapshot(ws / "features") == before
    done = subprocess.run([sys.executable, "-c", CLI, "extract", str(ws), "--masks", str(own),
                           "--features", "features"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1 and "holds features from ground-truth masks" in done.stderr
    assert _snapshot(ws / "features") == before
    forced = extract_features(ws, masks=own, out_dir=ws / "features", force=True)
    assert read_provenance(forced.paths["patients"])["mask_source"] == "folder"


def test_tables_from_before_sources_were_recorded_are_assumed_ground_truth(extracted, tmp_path):
    ws = _copy(extracted[0], tmp_path)
    for name in ("lesions", "patients", "errors"):  # as an earlier version wrote them
        path = ws / "features" / f"{name}.parquet"
        write_parquet(pd.read_parquet(path), path, provenance(config_hash="old"))
    legacy = folder_source(ws / "features")
    assert legacy == MaskSource("ground-truth") and not legacy.recorded
    assert "assumed" in legacy.describe()
    with pytest.raises(ConfigError, match="holds features from ground-truth masks"):
        extract_features(ws, masks=extracted[1], out_dir=ws / "features")
    rerun = extract_features(ws)  # the default source keeps working, and now records it
    assert read_provenance(rerun.paths["patients"])["mask_source"] == "ground-truth"


def test_feature_folder_names_must_stay_inside_the_workspace(extracted):
    done = subprocess.run([sys.executable, "-c", CLI, "extract", str(extracted[0]),
                           "--features", "../elsewhere"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1 and "'../elsewhere' cannot be used as a folder name" in done.stderr
    assert run_suffix("features") == "" and run_suffix("features_predicted") == "_predicted"
    assert run_suffix("mine") == "_mine"


def _rewrite_in_place(path: Path, image: sitk.Image) -> None:
    """Overwrite ``path``'s bytes (same inode, same size) and restore its times."""
    stat = path.stat()
    scratch = path.with_name("scratch.nii")
    sitk.WriteImage(image, str(scratch), False)
    data = scratch.read_bytes()
    scratch.unlink()
    assert len(data) == stat.st_size
    with open(path, "r+b") as handle:
        handle.write(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_an_image_rewritten_in_place_with_its_mtime_restored_is_recomputed(tmp_path,
                                                                           monkeypatch):
    images = _patient(3)
    ws = write_workspace(tmp_path, {"CHUS-003": images})
    pet = tmp_path / "data" / "CHUS-003__pet.nii"  # uncompressed: a same-size rewrite
    sitk.WriteImage(images["pet"], str(pet), False)
    manifest = pd.read_parquet(ws / "manifest.parquet").assign(pet_path=str(pet))
    write_parquet(manifest, ws / "manifest.parquet")
    first = extract_features(ws)
    hashed = []
    real_hash = extract_module.file_sha256
    monkeypatch.setattr(extract_module, "file_sha256", lambda p: hashed.append(p) or
                        real_hash(p))
    assert extract_features(ws).skipped == ["CHUS-003"] and hashed == []  # no re-hashing
    brighter = sitk.Cast(images["pet"] * 2.0, sitk.sitkFloat32)
    mtime = pet.stat().st_mtime_ns
    _rewrite_in_place(pet, brighter)
    assert pet.stat().st_mtime_ns == mtime
    changed = extract_features(ws)
    assert changed.computed == ["CHUS-003"] and hashed == [str(pet)]
    gtvp = (changed.lesions.lesion_id == "GTVp")
    assert changed.lesions.loc[gtvp, "PT_suv_SUVmax"].item() == pytest.approx(
        2.0 * first.lesions.loc[gtvp, "PT_suv_SUVmax"].item(), rel=1e-6)
    hashed.clear()
    os.utime(pet)  # touched, same content: re-hashed, not re-extracted
    touched = extract_features(ws)
    assert touched.skipped == ["CHUS-003"] and touched.computed == [] and hashed == [str(pet)]
    hashed.clear()
    assert extract_features(ws).skipped == ["CHUS-003"] and hashed == []


def test_a_second_concurrent_extract_is_refused_and_the_tables_have_one_settings_set(
        tmp_path):
    ws = many_patient_workspace(tmp_path, 6, _patient(5))
    # The second run starts its interpreter first and waits, so that it runs while the first
    # one extracts rather than after it.
    waiting = ("import sys; from radiomics_hnc.cli import main; sys.stdin.readline(); "
               f"sys.argv = ['radiomics-hnc', 'extract', {str(ws)!r}, '--min-lesion-ml', '3']; "
               "main()")
    second = subprocess.Popen([sys.executable, "-c", waiting], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = subprocess.Popen([sys.executable, "-c", CLI, "--quiet", "extract", str(ws),
                              "--min-lesion-ml", "0.3"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    owner = ws / LOCKS_DIR / "extract-features.owner.json"
    deadline = time.monotonic() + 120
    while not owner.is_file() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    _, second_err = second.communicate("go\n", timeout=300)
    assert first.poll() is None, "the first run must still be running"
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert second.returncode == 1, second_err
    message = " ".join(second_err.split())
    assert f"process {first.pid}" in message and "extract-features.lock" in message
    for name in ("lesions", "patients", "errors"):
        assert read_provenance(ws / "features" / f"{name}.parquet")["min_lesion_ml"] == 0.3
    lesions = pd.read_parquet(ws / "features" / "lesions.parquet")
    assert lesions["patient_id"].nunique() == 6
    assert (lesions["too_small"] == (lesions["MASK_volume_ml"] < 0.3)).all()
    caches = [read_provenance(p) for p in (ws / "features" / "cache").glob("*.arrow")]
    assert len({c["fingerprint"] for c in caches}) == 1  # one settings set, same images
    assert not owner.exists()
    again = subprocess.run([sys.executable, "-c", CLI, "--quiet", "extract", str(ws),
                            "--min-lesion-ml", "3"], capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr  # the lock went with the first run
    assert read_provenance(ws / "features" / "patients.parquet")["min_lesion_ml"] == 3.0


def _take_validate_lock(workspace: Path) -> None:
    with stage_lock(workspace, "validate"):
        pass


def test_the_lock_names_its_holder_and_a_killed_holder_leaves_no_stale_lock(tmp_path):
    busy = rf"process {os.getpid()} .*validate\.lock"
    with stage_lock(tmp_path, "validate") as path, pytest.raises(WorkspaceBusyError, match=busy):
        _take_validate_lock(tmp_path)
    code = ("import sys, time; from radiomics_hnc.locks import stage_lock\n"
            "with stage_lock(sys.argv[1], 'validate'):\n    print('held', flush=True)\n"
            "    time.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(WorkspaceBusyError, match=f"process {holder.pid}"):
        _take_validate_lock(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    _take_validate_lock(tmp_path)
    assert path.is_file()


def test_every_stage_that_writes_outputs_takes_its_lock(tmp_path):
    from radiomics_hnc.modeling import fit_run
    from radiomics_hnc.report import build_report
    from radiomics_hnc.segment import predict_cohort
    from radiomics_hnc.validate import validate_workspace

    ws = write_workspace(tmp_path, {})
    calls = {
        "validate": lambda: validate_workspace(ws),
        "segment-predict": lambda: predict_cohort(ws, tmp_path / "no model"),
        lock_name("report", ws / "report", ws): lambda: build_report(ws),
        lock_name("fit", ws / "runs" / "rfs_coxnet_loco", ws): lambda: fit_run(ws, "rfs_coxnet"),
        lock_name("extract", ws / "features", ws): lambda: extract_features(ws),
    }
    for name, call in calls.items():
        with stage_lock(ws, name), pytest.raises(WorkspaceBusyError, match=f"{name}.lock"):
            call()


def test_fit_and_report_use_a_chosen_features_folder_and_name_its_source(tmp_path):
    from radiomics_hnc.modeling.synthetic import synthetic_patients

    ws = tmp_path / "ws"
    write_parquet(synthetic_patients(n_patients=120, n_noise=5, seed=2).drop(
        columns="hpv_status"), ws / "manifest.parquet")
    table = synthetic_patients(n_patients=120, n_noise=5, seed=2)
    own = _mkdir(tmp_path / "masks v2")
    write_parquet(table, ws / "features_v2" / "patients.parquet",
                  provenance(**MaskSource.parse(own).record()))
    spec = tmp_path / "base.yaml"
    spec.write_text("name: base\ntask: rfs\nfeatures: [clinical]\nestimator: coxph\n"
                    "preprocessing: {harmonize: false}\nselection: {method: none}\n"
                    "validation: {n_bootstrap: 5}\n")
    done = subprocess.run([sys.executable, "-c", CLI, "--quiet", "fit", "rfs", str(ws),
                           "--spec", str(spec), "--cv", "kfold", "--features", "features_v2"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((ws / "runs" / "base_kfold_v2" / "metrics.json").read_text())
    assert metrics["features"]["folder"] == "features_v2"
    assert metrics["features"]["masks_path"] == str(own.resolve())
    done = subprocess.run([sys.executable, "-c", CLI, "--quiet", "report", str(ws),
                           "--features", "features_v2"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    html = " ".join((ws / "report" / "index.html").read_text().split())
    assert f"extracted per lesion on the label maps in {own.resolve()}" in html
    assert f"Feature tables of the runs: the label maps in {own.resolve()}: base_kfold_v2" in html
