"""Time to import full-size generated patients from DICOM (``radiomics-hnc import-dicom``).

Generates N patients at the ``full`` scale with their DICOM export (CT 512 x 512 x about 150
slices, PET about 110 slices of 16-bit Bq/ml, an RTSTRUCT of the GTVs, a planning CT and a
multi-frame RTDOSE: centre CHUV, seeds whose patients have a plan), imports the export and
reports the wall time of the whole import (header scan included) and each patient's own
import time. Target: under 10 s per patient on 2 cores. Writes
benchmarks/results/dicom_import.json.

    python -m benchmarks.dicom_import [--patients 1] [--jobs 1] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from radiomics_hnc.dicom import import_dicom
from radiomics_hnc.io import write_json
from radiomics_hnc.synth import generate_cohort


def _files(folder: Path) -> dict[str, int]:
    """Files of a patient's export per folder ('petct/CT': 180, 'rt': 1, ...)."""
    counts: dict[str, int] = {}
    for path in folder.rglob("*"):
        if path.is_file():
            key = str(path.parent.relative_to(folder))
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="seed 0 gives a patient with a plan")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dicom-bench-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        generate_cohort(root / "synth", args.patients, args.seed, scale="full",
                        centers=["CHUV"], image_format="dicom", jobs=args.jobs)
        generated = time.perf_counter() - start
        start = time.perf_counter()
        result = import_dicom(root / "synth" / "dicom", root / "data", jobs=args.jobs)
        seconds = time.perf_counter() - start
        export = {r["dicom_patient_id"]: _files(root / "synth" / "dicom" / r["dicom_patient_id"])
                  for r in result.records}
    report = {
        "patients": args.patients, "jobs": args.jobs, "seed": args.seed,
        "cpu_count": os.cpu_count(), "generation_seconds": round(generated, 1),
        "import_wall_seconds": round(seconds, 2),
        "import_seconds_per_patient": round(seconds / args.patients, 2),
        "per_patient": [{"patient_id": r["patient_id"], "status": r["status"],
                         "seconds": r["seconds"], "has_dose": bool(r["dose"]),
                         "ct_slices": r["series"]["ct"]["images"],
                         "pet_slices": r["series"]["pet"]["images"],
                         "export_files": export[r["dicom_patient_id"]]}
                        for r in result.records],
        "target_seconds_per_patient": 10,
    }
    write_json(report, Path(args.out) / "dicom_import.json")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
