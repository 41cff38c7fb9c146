"""How hard and how realistic a generated cohort is: a naive PET baseline and realism statistics.

Naive baseline (what a threshold finds without any learning): on each patient's PET, resampled
onto the CT grid, SUV >= 2.5, 26-connected components, drop components over 300 ml (the brain),
and compare the union with the union of GTVp and GTVn (DSCagg over the cohort); per label, the
component nearest to the oropharynx is called GTVp and the others GTVn. The false-positive
volume (thresholded voxels outside the GTVs) is reported per patient and, for cohorts of the
current generator, by the tissue it lies in (the phantom's tissue map, re-rendered from the
cohort's plans), voxels within 10 mm of a GTV counted as the tumour's own partial-volume spill.

Realism statistics: GTVp and GTVn volumes, SUVmax of primaries and nodes, SUVmean of the brain,
SUVmax of the palatine tonsils, SUVmean of the jugular veins (blood pool), the share of
patients with dental metal and with nodes (per centre for metal), and the CT values of fat,
muscle, cortical bone and vertebral marrow (masks eroded by one voxel).

    python -m benchmarks.difficulty [--patients 100] [--seed 0] [--cohort DIR] [--name NAME]
    python -m benchmarks.difficulty --figure-only   # docs/images/generated_patient.png

Without ``--cohort`` a cohort is generated (current generator, small scale) into ``--work``.
``--cohort`` measures an existing one, e.g. one made by an earlier version of the package
(the tissue breakdown and tissue statistics then need the current generator's plans and are
left out). Writes benchmarks/results/<name>.json and, unless ``--no-figure``, the figure.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage

from radiomics_hnc.io import write_json
from radiomics_hnc.synth import generate_cohort, plan_cohort
from radiomics_hnc.synth.anatomy import filling_centers
from radiomics_hnc.synth.centers import CENTERS
from radiomics_hnc.synth.cohort import GENERATOR_VERSION
from radiomics_hnc.synth.plan import PatientPlan
from radiomics_hnc.synth.render import render_patient, tissue_map

HERE = Path(__file__).parent
FIGURE = HERE.parent / "docs" / "images" / "generated_patient.png"
SUV_THRESHOLD, BRAIN_ML, SPILL_MM = 2.5, 300.0, 10.0
#: Where the previous generator's primaries grew (mm): its oropharynx.
PREVIOUS_OROPHARYNX = (0.0, -8.0, 8.0)
BRAIN_TISSUES = ("brain_grey", "brain_white", "deep_grey", "cerebellum", "brainstem")
TONSILS = ("palatine_tonsil_right", "palatine_tonsil_left")
WALDEYER = (*TONSILS, "lingual_tonsil", "adenoid", "soft_palate")
SPILL = "GTV partial-volume spill (<= 10 mm)"
#: Published figures each statistic is read beside (full references in docs/generator.md).
PUBLISHED = {
    "gtvp_volume_ml": "mean 30.5 (SD 22.3) ml, 74 oropharyngeal IMRT patients (Chao 2004)",
    "gtvn_total_volume_ml_per_patient_with_nodes": "mean 23.2 (SD 20.6) ml (Chao 2004); CT "
                                                   "nodal GTV median 8.9, range 1-185 ml "
                                                   "(JNM nodal study, n=91)",
    "suvmax_gtvn_hottest_node": "median 6.1, range 1.2-28.5 (JNM nodal study, n=91)",
    "suvmean_cerebellum": "8.0 (SD 2.2) (Wang 2007, n=98)",
    "suvmax_palatine_tonsil": "1.3-11.4, mean 4.5-4.6 (Birkin 2018, n=299); mean 3.48 "
                              "(Nakamoto 2005)",
    "suvmean_jugular_blood_pool": "aortic blood pool 1.55 (SD 0.38) (Boktor 2013, n=132)",
    "share_with_brown_fat": "0.026 (Fang 2008, n=457) to 0.036 (Br J Radiol 2017, n=15 109)",
    "share_with_vocal_cord_uptake": "0.19 visible vocal-cord uptake (Nakamoto 2005)",
    "share_with_cystic_node_hpv_positive": "0.36 (Cantrell 2013), 0.39 (Huang 2017)",
    "share_with_cystic_node_hpv_negative": "0.09 (Cantrell 2013), 0.19 (Huang 2017)",
    "share_with_dental_metal": "about half (the issue's specification; no population figure "
                               "found)",
    "hu_fat": "-50 to -100 (Prokop 2003)",
    "hu_muscle": "+40 to +60 (Prokop 2003)",
    "hu_cortical_bone": "+700 to +3000 (Prokop 2003)",
    "hu_marrow": "trabecular bone > 160 HU without osteoporosis (Pickhardt 2013, L1)",
}


def _images(dataset: Path, pid: str) -> tuple[sitk.Image, sitk.Image, sitk.Image]:
    folder = dataset / "Task 1" / pid
    ct = sitk.ReadImage(str(folder / f"{pid}__CT.nii.gz"))
    pet = sitk.ReadImage(str(folder / f"{pid}__PT.nii.gz"), sitk.sitkFloat32)
    label = sitk.ReadImage(str(folder / f"{pid}.nii.gz"))
    return ct, pet, label


def _index_grid(image: sitk.Image) -> np.ndarray:
    """Physical coordinates (z, y, x, 3) of every voxel of an axis-aligned image."""
    axes = [o + s * np.arange(n) for o, s, n in zip(image.GetOrigin(), image.GetSpacing(),
                                                     image.GetSize(), strict=True)]
    z, y, x = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    return np.stack([x, y, z], axis=-1)


def naive_baseline(pet_on_ct: np.ndarray, label: np.ndarray, points: np.ndarray,
                   voxel_ml: float, oropharynx: np.ndarray) -> dict[str, object]:
    """Voxel counts of the naive threshold against the label map, and its false positives."""
    components, count = ndimage.label(pet_on_ct >= SUV_THRESHOLD, structure=np.ones((3, 3, 3)))
    sizes = np.bincount(components.ravel(), minlength=count + 1) * voxel_ml
    keep = np.flatnonzero(sizes <= BRAIN_ML)
    keep = keep[keep > 0]
    predicted = np.isin(components, keep)
    primary = np.zeros_like(predicted)
    if len(keep):
        distance = np.full(count + 1, np.inf)
        inside = components > 0
        d = np.linalg.norm(points[inside] - oropharynx, axis=-1)
        np.minimum.at(distance, components[inside], d)
        nearest = keep[int(np.argmin(distance[keep]))]
        primary = components == nearest
    nodes = predicted & ~primary
    truth = label > 0
    return {
        "tp_union": int((predicted & truth).sum()), "pred_union": int(predicted.sum()),
        "true_union": int(truth.sum()),
        "tp_gtvp": int((primary & (label == 1)).sum()), "pred_gtvp": int(primary.sum()),
        "true_gtvp": int((label == 1).sum()),
        "tp_gtvn": int((nodes & (label == 2)).sum()), "pred_gtvn": int(nodes.sum()),
        "true_gtvn": int((label == 2).sum()),
        "false_positive": predicted & ~truth, "components_kept": len(keep),
    }


def _dsc_agg(rows: pd.DataFrame, key: str) -> float:
    denominator = rows[f"pred_{key}"].sum() + rows[f"true_{key}"].sum()
    return float(2 * rows[f"tp_{key}"].sum() / denominator) if denominator else float("nan")


def _spread(values: pd.Series | np.ndarray) -> dict[str, float]:
    array = np.asarray(values, float)
    array = array[np.isfinite(array)]
    if not len(array):
        return {"n": 0}
    q = np.percentile(array, [5, 25, 50, 75, 95])
    return {"n": len(array), "mean": round(float(array.mean()), 3),
            **{f"p{p}": round(float(v), 3) for p, v in zip((5, 25, 50, 75, 95), q,
                                                           strict=True)}}


def _false_positive_tissues(false_positive: np.ndarray, tissues: np.ndarray, names: list[str],
                            label: np.ndarray, spacing_zyx: tuple[float, ...],
                            voxel_ml: float) -> dict[str, float]:
    """False-positive ml by tissue; voxels within SPILL_MM of a GTV count as spill."""
    near = ndimage.distance_transform_edt(label == 0, sampling=spacing_zyx) <= SPILL_MM
    result = {SPILL: float((false_positive & near).sum() * voxel_ml)}
    far = false_positive & ~near
    counts = np.bincount(tissues[far], minlength=len(names))
    for k in np.flatnonzero(counts):
        result[names[k]] = float(counts[k] * voxel_ml)
    return result


def _lesion_suvmax(pet: sitk.Image, label: sitk.Image) -> tuple[float, list[float]]:
    """SUVmax of the primary and of each node, on the PET's own grid."""
    on_pet = sitk.GetArrayFromImage(sitk.Resample(label, pet, sitk.Transform(),
                                                  sitk.sitkNearestNeighbor, 0))
    values = sitk.GetArrayFromImage(pet)
    primary = float(values[on_pet == 1].max()) if (on_pet == 1).any() else float("nan")
    nodes, count = ndimage.label(on_pet == 2, structure=np.ones((3, 3, 3)))
    maxima = ndimage.maximum(values, nodes, index=np.arange(1, count + 1)) if count else []
    return primary, [float(v) for v in np.atleast_1d(maxima)]


def _tissue_values(ct: np.ndarray, pet_on_ct: np.ndarray, tissues: np.ndarray,
                   names: list[str], label: np.ndarray) -> dict[str, float]:
    """CT and PET values of named tissues, masks eroded by one voxel, lesions left out."""
    index = {name: k for k, name in enumerate(names)}
    free = label == 0

    def mask(*wanted: str, erode: bool = True) -> np.ndarray:
        selected = np.isin(tissues, [index[w] for w in wanted]) & free
        return ndimage.binary_erosion(selected) if erode else selected

    values: dict[str, float] = {}
    for key, wanted in (("hu_fat", ("fat",)), ("hu_muscle", ("muscle",)),
                        ("hu_marrow", ("marrow",))):
        selected = mask(*wanted)
        values[key] = float(np.median(ct[selected])) if selected.any() else float("nan")
    cortex = mask("cortical_bone", erode=False)
    values["hu_cortical_bone"] = float(np.median(ct[cortex])) if cortex.any() else float("nan")
    for key, wanted in (("suvmean_brain", BRAIN_TISSUES), ("suvmean_cerebellum",
                                                           ("cerebellum",))):
        selected = mask(*wanted)
        values[key] = float(pet_on_ct[selected].mean()) if selected.any() else float("nan")
    blood = mask("blood", erode=False)
    values["suvmean_blood_pool"] = (float(pet_on_ct[blood].mean()) if blood.any()
                                    else float("nan"))
    for side in TONSILS:
        selected = mask(side, erode=False)
        values[f"suvmax_{side}"] = (float(pet_on_ct[selected].max()) if selected.sum() > 2
                                    else float("nan"))
    return values


def _plans(parameters: dict, patients: pd.DataFrame) -> dict[str, object]:
    """The cohort's plans, re-drawn from its parameters (the centres in the package's order,
    as ``generate_cohort`` draws them); only those that match the truth table are kept."""
    centers = [c for c in CENTERS if c in set(parameters["centers"])]
    plans = plan_cohort(parameters["n_patients"], parameters["seed"], parameters["scale"],
                        None if len(centers) == len(CENTERS) else centers)
    flexion = patients.set_index("patient_id")["flexion_deg"]
    return {p.patient_id: p for p in plans
            if p.patient_id in flexion.index
            and np.isclose(flexion[p.patient_id], p.anatomy.posture.flexion_deg)}


def measure_cohort(root: Path) -> dict[str, object]:
    """Baseline and realism statistics of the cohort in ``root`` (dataset/, ground_truth/)."""
    truth_dir = root / "ground_truth"
    patients = pd.read_parquet(truth_dir / "patients.parquet")
    lesions = pd.read_parquet(truth_dir / "lesions.parquet")
    parameters = json.loads((truth_dir / "parameters.json").read_text())
    version = parameters.get("generator", {}).get("version", 1)
    plans = _plans(parameters, patients) if version == GENERATOR_VERSION else {}
    rows, fp_tissues, tissue_rows = [], [], []
    for record in patients.itertuples():
        ct, pet, label = _images(root / "dataset", record.patient_id)
        pet_on_ct = sitk.GetArrayFromImage(sitk.Resample(pet, ct, sitk.Transform(),
                                                         sitk.sitkLinear, 0.0))
        labels = sitk.GetArrayFromImage(label)
        voxel_ml = float(np.prod(ct.GetSpacing())) / 1000
        oropharynx = np.asarray(getattr(record, "oropharynx_mm", PREVIOUS_OROPHARYNX), float)
        result = naive_baseline(pet_on_ct, labels, _index_grid(ct), voxel_ml, oropharynx)
        false_positive = result.pop("false_positive")
        primary, nodes = _lesion_suvmax(pet, label)
        row = {"patient_id": record.patient_id, "center": record.center, **result,
               "fp_ml": float(false_positive.sum() * voxel_ml), "suvmax_gtvp": primary,
               "suvmax_gtvn": max(nodes) if nodes else float("nan")}
        rows.append(row)
        plan = plans.get(record.patient_id)
        if plan is not None:
            tissue_image, names = tissue_map(plan, parameters["scale"])
            tissues = sitk.GetArrayFromImage(tissue_image)
            fp_tissues.append(_false_positive_tissues(false_positive, tissues, names, labels,
                                                      ct.GetSpacing()[::-1], voxel_ml))
            tissue_rows.append(_tissue_values(sitk.GetArrayFromImage(ct), pet_on_ct, tissues,
                                              names, labels))
    table = pd.DataFrame(rows)
    report: dict[str, object] = {
        "cohort": str(root), "generator_version": version, "patients": len(table),
        "scale": parameters["scale"], "seed": parameters["seed"],
        "naive_baseline": {
            "rule": f"PET >= SUV {SUV_THRESHOLD}, 26-connected components, components over "
                    f"{BRAIN_ML:.0f} ml dropped; nearest to the oropharynx = GTVp",
            "dsc_agg_union": _dsc_agg(table, "union"), "dsc_agg_gtvp": _dsc_agg(table, "gtvp"),
            "dsc_agg_gtvn": _dsc_agg(table, "gtvn"),
            "false_positive_ml_per_patient": _spread(table["fp_ml"]),
        },
        "realism": _realism(patients, lesions, table, tissue_rows),
    }
    if fp_tissues:
        by_tissue = pd.DataFrame(fp_tissues).fillna(0.0)
        physiological = by_tissue.drop(columns=[SPILL]).sum(axis=1)
        report["naive_baseline"].update({  # type: ignore[attr-defined]
            "patients_with_tissue_maps": len(by_tissue),
            "physiological_false_positive_ml_per_patient": _spread(physiological),
            "share_with_physiological_false_positive_over_1ml": round(float(
                (physiological > 1).mean()), 3),
            "waldeyer_ring_false_positive_ml_per_patient": _spread(by_tissue[[
                c for c in by_tissue if c in WALDEYER]].sum(axis=1)),
        })
        report["naive_baseline"]["false_positive_ml_by_tissue"] = {  # type: ignore[index]
            name: {"mean_ml": round(float(col.mean()), 2),
                   "patients_with_any": int((col > 0).sum())}
            for name, col in sorted(by_tissue.items(), key=lambda kv: -kv[1].mean())}
    return report


def _realism(patients: pd.DataFrame, lesions: pd.DataFrame, table: pd.DataFrame,
             tissue_rows: list[dict[str, float]]) -> dict[str, object]:
    primaries = lesions[lesions["label"] == 1]
    nodal = lesions[lesions["label"] == 2].groupby("patient_id")["volume_ml"].sum()
    realism: dict[str, object] = {
        "gtvp_volume_ml": _spread(primaries["volume_ml"]),
        "gtvn_total_volume_ml_per_patient_with_nodes": _spread(nodal),
        "gtvn_volume_ml_per_node": _spread(lesions.loc[lesions["label"] == 2, "volume_ml"]),
        "suvmax_gtvp": _spread(table["suvmax_gtvp"]),
        "suvmax_gtvn_hottest_node": _spread(table["suvmax_gtvn"]),
        "share_with_nodes": round(float((patients["node_count"] > 0).mean()), 3),
        "share_with_primary": round(float(patients["has_primary"].mean()), 3),
        **_cystic_and_necrotic(patients, lesions),
    }
    if "dental_metal" in patients:
        realism["share_with_dental_metal"] = round(float(patients["dental_metal"].mean()), 3)
        realism["share_with_dental_metal_by_center"] = {
            c: round(float(v), 2) for c, v in patients.groupby("center")["dental_metal"].mean()
            .items()}
        realism["share_with_brown_fat"] = round(float(patients["brown_fat"].mean()), 3)
        realism["share_with_vocal_cord_uptake"] = round(float(
            patients["vocal_cord_uptake"].mean()), 3)
        realism["blood_pool_suv_set"] = _spread(patients["suv_blood"])
        realism["share_with_active_muscle"] = round(float(
            (patients["active_muscles"] != "").mean()), 3)
    if tissue_rows:
        frame = pd.DataFrame(tissue_rows)
        tonsils = pd.concat([frame[f"suvmax_{side}"] for side in TONSILS])
        realism.update({
            "suvmean_brain": _spread(frame["suvmean_brain"]),
            "suvmean_cerebellum": _spread(frame["suvmean_cerebellum"]),
            "suvmax_palatine_tonsil": _spread(tonsils),
            "suvmean_jugular_blood_pool": _spread(frame["suvmean_blood_pool"]),
            **{key: _spread(frame[key]) for key in ("hu_fat", "hu_muscle", "hu_cortical_bone",
                                                    "hu_marrow")},
        })
    realism["published"] = {key: text for key, text in PUBLISHED.items() if key in realism}
    return realism


def _cystic_and_necrotic(patients: pd.DataFrame, lesions: pd.DataFrame) -> dict[str, float]:
    """Share of node-positive patients with a cystic node, by HPV status, and share of
    primaries with a necrotic core, small (<= 30 ml) and large."""
    nodal = patients[patients["node_count"] > 0]
    cystic = (nodal["cystic_node_count"] > 0).groupby(nodal["true_hpv"] > 0).mean()
    primaries = lesions[lesions["label"] == 1]
    necrotic = (primaries["core_fraction"] > 0).groupby(
        primaries["nominal_volume_ml"] > 30).mean()
    return {
        "share_with_cystic_node_hpv_positive": round(float(cystic.get(True, np.nan)), 3),
        "share_with_cystic_node_hpv_negative": round(float(cystic.get(False, np.nan)), 3),
        "share_necrotic_primaries_over_30ml": round(float(necrotic.get(True, np.nan)), 3),
        "share_necrotic_primaries_up_to_30ml": round(float(necrotic.get(False, np.nan)), 3),
    }


def _figure_plan(seed: int) -> tuple[PatientPlan, float]:
    """The first full-scale patient of ``seed`` with a tonsil primary, nodes and dental metal
    at a centre with strong streaks, and the height (mm) of its filling nearest the primary."""
    for plan in plan_cohort(60, seed, "full"):
        primary = [les for les in plan.disease.lesions if les.site.startswith("tonsil")]
        if (plan.anatomy.fillings and plan.disease.node_count and primary
                and plan.profile.metal_streak_hu >= 550):
            fillings = plan.anatomy.posture.to_scanner(filling_centers(plan.anatomy))
            level = plan.anatomy.posture.to_scanner(primary[0].center[None, :])[0, 2]
            return plan, float(fillings[np.argmin(np.abs(fillings[:, 2] - level)), 2])
    raise ValueError(f"no patient of seed {seed} fits the figure")


def make_figure(path: Path = FIGURE, seed: int = 0) -> str:
    """Axial CT and PET on CT through the primary and the nearest metal filling, and a coronal
    PET MIP, of one full-scale generated patient (see :func:`_figure_plan`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plan, z_mm = _figure_plan(seed)
    images, truth = render_patient(plan, "full")
    ct, pet, label = images["ct"], images["pt"], images["label"]
    primary = next(r for r in truth if r["lesion_id"] == "GTVp")
    pet_on_ct = sitk.GetArrayFromImage(sitk.Resample(pet, ct, sitk.Transform(),
                                                     sitk.sitkLinear, 0.0))
    k = ct.TransformPhysicalPointToIndex((0.0, 0.0, z_mm))[2]
    rows = slice(*[ct.TransformPhysicalPointToIndex((0.0, y, 0.0))[1] for y in (-115.0, 125.0)])
    cols = slice(*[ct.TransformPhysicalPointToIndex((x, 0.0, 0.0))[0] for x in (-120.0, 120.0)])
    ct_slice = sitk.GetArrayFromImage(ct)[k][rows, cols]
    gtv = sitk.GetArrayFromImage(label)[k][rows, cols]
    mip = sitk.GetArrayFromImage(pet).max(axis=1)[::-1]
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 5.2),
                             gridspec_kw={"width_ratios": [1, 1, 1.25]})
    axes[0].imshow(ct_slice, cmap="gray", vmin=-160, vmax=240)
    axes[0].set_title(f"CT, z = {z_mm:.0f} mm (W400 L40)")
    axes[1].imshow(ct_slice, cmap="gray", vmin=-160, vmax=240)
    shown = np.ma.masked_less(pet_on_ct[k][rows, cols], 1.0)
    axes[1].imshow(shown, cmap="hot", vmin=0, vmax=8, alpha=0.65)
    for axis in axes[:2]:
        axis.contour(gtv == 1, levels=[0.5], colors="cyan", linewidths=0.8)
        axis.contour(gtv == 2, levels=[0.5], colors="lime", linewidths=0.8)
    axes[1].set_title("PET on CT (SUV 1-8); GTVp cyan, GTVn green")
    spacing = pet.GetSpacing()
    axes[2].imshow(mip, cmap="gray_r", vmin=0, vmax=8, aspect=spacing[2] / spacing[0])
    axes[2].set_title("PET coronal MIP (SUV 0-8)")
    for axis in axes:
        axis.axis("off")
    fig.suptitle(f"Generated patient {plan.patient_id} (full scale, seed {seed}): "
                 f"{primary['site'].replace('_', ' ')} primary, {plan.disease.node_count} "
                 f"node(s), {len(plan.anatomy.fillings)} metal filling(s)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return plan.patient_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cohort", default=None, help="measure this cohort instead")
    parser.add_argument("--name", default="difficulty", help="results file name")
    parser.add_argument("--work", default=str(HERE / "work" / "difficulty"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-figure", action="store_true")
    parser.add_argument("--figure-only", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    if not args.figure_only:
        root = Path(args.cohort) if args.cohort else Path(args.work) / f"n{args.patients}"
        if not args.cohort:
            generate_cohort(root, args.patients, args.seed, jobs=args.jobs)
        report = measure_cohort(root)
        write_json(report, Path(args.out) / f"{args.name}.json")
        print(json.dumps(report, indent=2))
    if args.figure_only or not args.no_figure:
        print(f"figure of {make_figure()} written to {FIGURE}")


if __name__ == "__main__":
    main()
