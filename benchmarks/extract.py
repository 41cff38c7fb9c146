"""Extraction speed, memory and agreement: radiomics-hnc versus the PyRadiomics batch command line.

Both run, in one go, on the same full-scale patients (CT 512x512x150 at 0.98x0.98x3 mm, PET
4 mm, a planning CT with a rigid offset and a dose map) with the same parameters, for each
configuration: ``default`` (the packaged CT, PET and dose files) and ``filters`` (the same with
the LoG sigma 1, 2, 3 mm and wavelet image types on CT and PET, ``extract --filters``). The
command line gets what a user without this package would prepare: one CSV row per lesion and
modality, each lesion mask written as a file on that image's grid (the CT-grid mask for CT, the
PET-grid mask for PET, the CT-grid mask with the dose already mapped onto the CT grid for dose),
and the merged parameters written as YAML files; preparing those inputs (registration included)
is not counted in its time, while our time includes reading, registration and everything else.
Every feature both sides computed (every image type and class) must agree to 1e-6 relative.
Our peak memory is the largest resident set of any worker (``ru_maxrss`` of the pool's
processes). Writes benchmarks/results/extract.json.

    python -m benchmarks.extract [--patients 4] [--jobs 2] [--configurations default filters]

Where the filtered time goes (cProfile of 4 full-scale patients, 16 lesions, one worker, in
one process; single-decompression reading): PyRadiomics on the lesions 46 % (its feature classes
29 %, its crop of every filtered image to the mask box 5 %, LoG 4 %, shape 2 %; our resampling of
the crops 3 %), reading the five images 17 % (decompression 11 %, copying the voxels into ITK
images 5 %), the dose registration 14 % (the command line is not charged for it), parquet (each
worker's cache file, the parent reading them back and writing the three tables) 10 %, the rest
validation checks and finding the lesions. Before, reading was a quarter: each ``.nii.gz`` was
decompressed twice (``read_image``'s truncation and NaN scan, then ITK); ``read_image`` now
decompresses once (zlib-ng, as fast as ITK's own inflate) and builds the image from those bytes.
The filters run on exactly PyRadiomics' padded, resampled box (no larger crop), each lesion is
resampled once per modality (not per filter). Per-class recomputation did cost: every feature
class re-discretised the same image (PyRadiomics finds the bin edges with Python's
``min``/``max`` over every ROI voxel), 19 % of the feature time, and each class instantiation
enumerated its features with ``inspect.getmembers``, 3 %; both are done once per image type
(``pyradiomics_engine.binned_once_extractor``). What bounds the ``filters`` ratio: the filtered
image types add about the same PyRadiomics work to both sides (here ~5 CPU s against ~7), so
they pull the ratio towards the ratio of that work; the texture matrices (C) and per-feature
numpy code are PyRadiomics' own, identical on both sides. So the ratio was raised by cutting
what is ours (7.0x -> 10.9x wall, 7.1x -> 10.4x CPU on the same machine; per worker 730 -> 480
MB): a timeline of one ``--jobs 2`` run (3.0 s a patient: reading 0.5, dose 1.0 of which
registration 0.5, lesions 1.4; 0.5 s of serial gathering; ~1 s of worker start-up) pointed at
(1) loky's workers importing pandas, SimpleITK and PyRadiomics again (~1 s and ~90 MB each):
extraction's workers are now forked from the run (``map_patients(fork_workers=True)``; they die
with it); (2) parquet for a few rows of 2268 columns (pandas-to-Arrow conversion, column-chunk
encoding; ~0.25 s a patient in the worker, 0.1 s in the parent's read-back): the per-patient
cache is an Arrow IPC file built from the rows (15x cheaper to write and read), and the three
tables are no longer read back after writing; (3) ``read_image`` writing each voxel four times
into fresh memory (decompressed bytes, their concatenation, ITK's zero-filled image, the copy
into it): it now decompresses into the image's own buffer (5 images 0.74 -> 0.34 s); (4) the
registration's coarse level optimised to 0.001 mm steps: it stops at 0.05 mm, the fine level at
0.01 mm (1.4x faster, same accuracy: ``benchmarks/registration.py``). That benchmark also
showed the registration erred by 3.6 mm (median) on the realistic generator, pulled by the couch;
it now samples only the patient's body (0.16 mm), which costs ~0.2 s a patient more on this
benchmark's couch-less phantom (its flat anatomy converges slowly without the body outline) and
brought the filtered ratio from 10.9x to ~10x.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
import yaml

from radiomics_hnc.features.configs import load_feature_configs
from radiomics_hnc.features.dose import map_dose
from radiomics_hnc.features.geometry import Region
from radiomics_hnc.features.lesions import find_lesions
from radiomics_hnc.features.pet import mask_on_grid
from radiomics_hnc.geometry import Grid
from radiomics_hnc.io import write_image, write_json, write_parquet

RELATIVE_TOLERANCE = 1e-6
CT_SIZE, CT_SPACING = (512, 512, 150), (0.9765625, 0.9765625, 3.0)
PET_SIZE, PET_SPACING = (128, 128, 113), (4.0, 4.0, 4.0)
PLAN_SIZE, PLAN_SPACING = (512, 512, 140), (1.171875, 1.171875, 3.0)
SHIFT_MM = (7.0, -5.0, 4.5)


def _axes(size, spacing, origin):
    return [np.float32(o) + np.float32(s) * np.arange(n, dtype=np.float32)
            for n, s, o in zip(size, spacing, origin, strict=True)]


def _anatomy(size, spacing, origin, shift, rng, lesions) -> np.ndarray:
    """HU of a head-and-neck-like phantom on a grid, anatomy moved by ``shift`` (mm)."""
    xs, ys, zs = (a - np.float32(d) for a, d in zip(_axes(size, spacing, origin), shift,
                                                    strict=True))
    z, y, x = zs[:, None, None], ys[None, :, None], xs[None, None, :]
    half_width = 150.0 + 0.15 * z
    ring = (x / half_width) ** 2 + ((y - 10.0) / 120.0) ** 2
    hu = np.where(ring <= 1.0, np.float32(-90.0), np.float32(-1000.0))
    hu = np.where(ring <= 0.8, np.float32(40.0), hu)
    spine = ((x - 3.0) ** 2 + (y - 70.0) ** 2 <= 14.0**2) & (np.mod(z + 220.0, 24.0) < 17.0)
    hu = np.where(spine, np.float32(750.0), hu)
    jaw = (np.abs(y + 60.0) < 7.0) & (np.abs(x) < 70.0) & (z > 60.0) & (z < 120.0)
    hu = np.where(jaw, np.float32(900.0), hu)
    for centre, radius in lesions:
        inside = ((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2
                  <= radius**2)
        hu = np.where(inside, np.float32(65.0), hu)
    hu = hu + rng.normal(0.0, 12.0, hu.shape).astype(np.float32) * (hu > -500)
    return np.round(hu).astype(np.int16)


def make_patient(seed: int) -> dict[str, sitk.Image]:
    """One full-scale patient: CT, PET (SUV), labels, planning CT and dose (Gy)."""
    rng = np.random.default_rng(seed)
    lesions = [((-20.0 + 5 * seed, 10.0, 40.0), 16.0 + seed),
               ((45.0, -30.0, 20.0), 10.0), ((-50.0, -25.0, 0.0), 8.0), ((40.0, 30.0, 60.0), 6.5)]
    origin = (-250.0, -250.0, -225.0)
    ct = sitk.GetImageFromArray(_anatomy(CT_SIZE, CT_SPACING, origin, (0, 0, 0), rng, lesions))
    ct.SetSpacing(CT_SPACING)
    ct.SetOrigin(origin)
    xs, ys, zs = _axes(CT_SIZE, CT_SPACING, origin)
    z, y, x = zs[:, None, None], ys[None, :, None], xs[None, None, :]
    labels = np.zeros(tuple(reversed(CT_SIZE)), dtype=np.uint8)
    for number, (centre, radius) in enumerate(lesions):
        inside = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 <= radius**2
        labels[inside] = 1 if number == 0 else 2
    label = sitk.GetImageFromArray(labels)
    label.CopyInformation(ct)
    pet_origin = (-254.0, -254.0, -226.0)
    pxs, pys, pzs = _axes(PET_SIZE, PET_SPACING, pet_origin)
    pz, py, px = pzs[:, None, None], pys[None, :, None], pxs[None, None, :]
    suv = 0.7 + 0.3 * rng.random(tuple(reversed(PET_SIZE)), dtype=np.float32)
    for number, (centre, radius) in enumerate(lesions):
        distance = np.sqrt((px - centre[0]) ** 2 + (py - centre[1]) ** 2 + (pz - centre[2]) ** 2)
        suv = suv + (14.0 - 2 * number) * np.clip(1.0 - distance / (radius + 5.0), 0.0, None)
    pet = sitk.GetImageFromArray(suv.astype(np.float32))
    pet.SetSpacing(PET_SPACING)
    pet.SetOrigin(pet_origin)
    plan_origin = (-300.0 + SHIFT_MM[0], -300.0 + SHIFT_MM[1], -210.0 + SHIFT_MM[2])
    planning = sitk.GetImageFromArray(
        _anatomy(PLAN_SIZE, PLAN_SPACING, plan_origin, SHIFT_MM, rng, lesions))
    planning.SetSpacing(PLAN_SPACING)
    planning.SetOrigin(plan_origin)
    qx, qy, qz = (a - np.float32(d) for a, d in zip(_axes(PLAN_SIZE, PLAN_SPACING, plan_origin),
                                                    SHIFT_MM, strict=True))
    centre = lesions[0][0]
    distance = np.sqrt((qx[None, None, :] - centre[0]) ** 2 + (qy[None, :, None] - centre[1]) ** 2
                       + (qz[:, None, None] - centre[2]) ** 2)
    dose = sitk.GetImageFromArray(np.clip(70.0 - np.clip(distance - 25.0, 0, None) * 0.8, 0, None)
                                  .astype(np.float32))
    dose.CopyInformation(planning)
    return {"ct": ct, "pet": pet, "label": label, "planning_ct": planning, "dose": dose}


def write_cohort(root: Path, count: int) -> Path:
    """Write ``count`` patients and a manifest; returns the workspace."""
    rows = []
    for number in range(1, count + 1):
        pid = f"BENCH-{number:03d}"
        images = make_patient(number)
        row = {"patient_id": pid, "center": "BENCH"}
        for role, image in images.items():
            row[f"{role}_path"] = str(write_image(image, root / "data" / f"{pid}__{role}.nii.gz"))
        rows.append(row)
    workspace = root / "ws"
    write_parquet(pd.DataFrame(rows), workspace / "manifest.parquet")
    return workspace


def pyradiomics_inputs(workspace: Path, root: Path) -> dict[str, Path]:
    """Per-modality batch CSVs with one row per lesion, masks written on each image's grid."""
    manifest = pd.read_parquet(workspace / "manifest.parquet")
    rows: dict[str, list[dict]] = {"ct": [], "pet": [], "dose": []}
    masks = root / "cli_inputs"
    for record in manifest.to_dict("records"):
        pid = record["patient_id"]
        ct = sitk.ReadImage(record["ct_path"])
        pet = sitk.ReadImage(record["pet_path"])
        mapping = map_dose(ct, sitk.ReadImage(record["planning_ct_path"]),
                           sitk.ReadImage(record["dose_path"]))
        full = Region((0, 0, 0), tuple(s - 1 for s in ct.GetSize()))
        dose_path = write_image(mapping.dose_on(Grid.of(ct), full),
                                masks / f"{pid}__dose_ct.nii.gz")
        for lesion in find_lesions(sitk.ReadImage(record["label_path"], sitk.sitkUInt8)):
            base = {"patient_id": pid, "lesion_id": lesion.lesion_id}
            ct_mask = write_image(lesion.mask.to_full_image(),
                                  masks / f"{pid}__{lesion.lesion_id}__ct_mask.nii.gz")
            pet_mask = write_image(mask_on_grid(lesion.mask, Grid.of(pet)).to_full_image(),
                                   masks / f"{pid}__{lesion.lesion_id}__pet_mask.nii.gz")
            rows["ct"].append({**base, "Image": record["ct_path"], "Mask": str(ct_mask)})
            rows["pet"].append({**base, "Image": record["pet_path"], "Mask": str(pet_mask)})
            rows["dose"].append({**base, "Image": str(dose_path), "Mask": str(ct_mask)})
    paths = {}
    for name, table in rows.items():
        paths[name] = root / f"cli_{name}.csv"
        pd.DataFrame(table).to_csv(paths[name], index=False)
    return paths


#: The configurations compared: name -> ``load_feature_configs`` keyword arguments.
CONFIGURATIONS = {"default": {}, "filters": {"filters": True}}


def write_cli_params(root: Path, configuration: str) -> dict[str, Path]:
    """The merged parameters of ``configuration`` as one YAML file per modality."""
    configs = load_feature_configs(**CONFIGURATIONS[configuration])
    paths = {}
    for name in ("ct", "pet", "dose"):
        paths[name] = root / f"params_{configuration}_{name}.yaml"
        paths[name].write_text(yaml.safe_dump(configs.params(name)))
    return paths


def _children_cpu_seconds() -> float:
    """CPU seconds (user + system) of every finished child process and their children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_pyradiomics_cli(inputs: dict[str, Path], params: dict[str, Path], root: Path,
                        jobs: int) -> tuple[float, float, dict]:
    """Run ``pyradiomics BATCH.csv --jobs N --param P -o OUT -f csv`` per modality: wall
    seconds, CPU seconds (its pool workers included) and the outputs."""
    executable = Path(sys.executable).with_name("pyradiomics")
    outputs, elapsed = {}, 0.0
    cpu_before = _children_cpu_seconds()
    for name, csv in inputs.items():
        out = root / f"cli_{params[name].stem}_out.csv"
        start = time.perf_counter()
        subprocess.run([str(executable), str(csv), "--jobs", str(jobs), "--param",
                        str(params[name]), "-o", str(out), "-f", "csv"],
                       check=True, capture_output=True)
        elapsed += time.perf_counter() - start
        outputs[name] = pd.read_csv(out)
    return elapsed, _children_cpu_seconds() - cpu_before, outputs


_OURS_CODE = """
import json, resource, sys, time
from radiomics_hnc.features import extract_features
from radiomics_hnc.features.configs import load_feature_configs
configs = load_feature_configs(**json.loads(sys.argv[3]))
start = time.perf_counter()
result = extract_features(sys.argv[1], jobs=int(sys.argv[2]), force=True, configs=configs,
                          out_dir=sys.argv[4])
elapsed = time.perf_counter() - start
from joblib.externals.loky import get_reusable_executor
get_reusable_executor().shutdown(wait=True)
# ru_maxrss of this process would include its parent's at fork time: read this image's own peak.
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
me = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
peak = children if int(sys.argv[2]) > 1 else me
print(json.dumps({"seconds": elapsed, "worker_peak_rss_mb": peak,
                  "failed": result.failed, "lesions": len(result.lesions)}))
"""


def run_ours(workspace: Path, jobs: int, configuration: str) -> dict:
    """Our extraction in a fresh process (so memory is measured cleanly); the tables go to
    ``WORKSPACE/features_<configuration>``."""
    out = workspace / f"features_{configuration}"
    cpu_before = _children_cpu_seconds()
    done = subprocess.run([sys.executable, "-c", _OURS_CODE, str(workspace), str(jobs),
                           json.dumps(CONFIGURATIONS[configuration]), str(out)],
                          check=True, capture_output=True, text=True)
    return {**json.loads(done.stdout.strip().splitlines()[-1]),
            "cpu_seconds": _children_cpu_seconds() - cpu_before,
            "lesions_table": out / "lesions.parquet"}


#: Columns of the command line's output that are not features.
_CLI_COLUMNS = {"patient_id", "lesion_id", "Image", "Mask"}


def compare(lesions: pd.DataFrame, outputs: dict[str, pd.DataFrame]) -> dict:
    """Worst relative difference over every feature both sides computed."""
    prefixes = {"ct": "CT", "pet": "PT", "dose": "RTDOSE"}
    ours = lesions.set_index(["patient_id", "lesion_id"])
    worst, worst_name, compared, missing = 0.0, None, 0, []
    for name, table in outputs.items():
        for record in table.to_dict("records"):
            key = (record["patient_id"], record["lesion_id"])
            for column, value in record.items():
                if column in _CLI_COLUMNS or column.startswith("diagnostics_"):
                    continue
                ours_column = f"{prefixes[name]}_{column}"
                if ours_column not in ours.columns:
                    missing.append(ours_column)
                    continue
                mine, theirs = float(ours.loc[key, ours_column]), float(value)
                difference = abs(mine - theirs) / max(abs(theirs), 1e-12)
                if abs(mine - theirs) > 1e-12 and difference > worst:
                    worst, worst_name = difference, f"{key} {ours_column}"
                compared += 1
    return {"features_compared": compared, "worst_relative_difference": worst,
            "worst_feature": worst_name, "missing_in_ours": sorted(set(missing)),
            "agree": worst <= RELATIVE_TOLERANCE and not missing}


def run_configuration(workspace: Path, inputs: dict[str, Path], root: Path, jobs: int,
                      patients: int, configuration: str) -> dict:
    """Both sides on one configuration: times, our worker memory, agreement."""
    ours = run_ours(workspace, jobs, configuration)
    print(f"{configuration}: radiomics-hnc {ours['seconds']:.1f} s, "
          f"{ours['worker_peak_rss_mb']:.0f} MB per worker", flush=True)
    params = write_cli_params(root, configuration)
    cli_seconds, cli_cpu, outputs = run_pyradiomics_cli(inputs, params, root, jobs)
    print(f"{configuration}: pyradiomics CLI {cli_seconds:.1f} s", flush=True)
    agreement = compare(pd.read_parquet(ours["lesions_table"]), outputs)
    return {
        "radiomics_hnc_seconds": round(ours["seconds"], 2),
        "radiomics_hnc_seconds_per_patient": round(ours["seconds"] / patients, 2),
        "radiomics_hnc_worker_peak_rss_mb": round(ours["worker_peak_rss_mb"]),
        "pyradiomics_cli_seconds": round(cli_seconds, 2),
        "pyradiomics_cli_seconds_per_patient": round(cli_seconds / patients, 2),
        "speedup": round(cli_seconds / ours["seconds"], 1),
        # Whole commands (start-up included), workers included: less sensitive than wall time
        # to other jobs on a shared machine.
        "radiomics_hnc_cpu_seconds": round(ours["cpu_seconds"], 1),
        "pyradiomics_cli_cpu_seconds": round(cli_cpu, 1),
        "cpu_speedup": round(cli_cpu / ours["cpu_seconds"], 1),
        **agreement,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--configurations", nargs="+", choices=sorted(CONFIGURATIONS),
                        default=list(CONFIGURATIONS))
    args = parser.parse_args()
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    load_feature_configs()  # fail early on broken packaged configs
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench_extract_") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        workspace = write_cohort(root, args.patients)
        inputs = pyradiomics_inputs(workspace, root)
        setup = time.perf_counter() - start
        print(f"setup (phantoms + command-line inputs): {setup:.0f} s", flush=True)
        for configuration in args.configurations:
            results[configuration] = run_configuration(workspace, inputs, root, args.jobs,
                                                       args.patients, configuration)
        lesion_count = len(pd.read_csv(inputs["ct"]))
    result = {
        "patients": args.patients, "lesions": lesion_count, "jobs": args.jobs,
        "cpu_count": os.cpu_count(),
        "image_sizes": {"ct": CT_SIZE, "pet": PET_SIZE, "planning_ct": PLAN_SIZE},
        "our_time_includes": "image reading, dose registration, all lesions and modalities",
        "cli_time_excludes": "dose registration and writing per-lesion mask files",
        "configurations": results,
    }
    print(json.dumps(result, indent=2))
    write_json(result, Path(args.out) / "extract.json")
    return 0 if all(r["agree"] for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
