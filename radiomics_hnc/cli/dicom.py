"""CLI for the DICOM import: ``radiomics-hnc import-dicom SRC --out DATA``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from radiomics_hnc.choices import NonuniformSlices, SUVNormalisation
from radiomics_hnc.cli.common import console, state

_STATUS_STYLE = {"imported": "green", "partial": "yellow", "failed": "bold red"}


def import_dicom_command(
    source: Path = typer.Argument(..., help="Folder tree of DICOM files (any layout)."),
    out: Path = typer.Option(..., "--out", "-o",
                             help="Dataset folder to write (HECKTOR 2025 layout)."),
    roi_map: Path = typer.Option(
        None, "--roi-map", help="YAML of ROI name rules for GTVp/GTVn; default the packaged "
        "roi_map.yaml (see the user guide)."),
    suv: SUVNormalisation = typer.Option(
        SUVNormalisation.BW, "--suv", help="SUV normalisation: bw (body weight), sul (lean "
        "body mass, Janmahasatian) or bsa (body surface area)."),
    nonuniform: NonuniformSlices = typer.Option(
        NonuniformSlices.REFUSE, "--nonuniform", help="Series with uneven slice spacing: "
        "refuse (the patient fails, the log says where) or resample (linear interpolation, "
        "logged)."),
    center: str = typer.Option("EXT", "--center",
                               help="Centre code: patient ids are CENTER-001, CENTER-002..."),
    skip_series: str = typer.Option(
        None, "--skip-series", help="Regular expression: image series whose description "
        "matches are never used (e.g. 'contrast|arterial')."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Patients imported in parallel."),
    force: bool = typer.Option(False, "--force",
                               help="Reimport patients whose files and settings did not change."),
) -> None:
    """Import a DICOM export (PET/CT, RTSTRUCT, RTDOSE) as a dataset in the HECKTOR layout.

    Writes DATA/Task 1/<PID>/ (CT in HU, PET in SUV, label map on the CT grid), DATA/Task 2/
    for patients with a plan dose, DATA/clinical.csv to complete, and DATA/import_log.json and
    .parquet (series used, SUV factors, ROI names, problems). A failing patient is reported and
    skipped; a rerun imports only patients whose files or settings changed. Then run
    'radiomics-hnc discover DATA --out WORKSPACE'.
    """
    from radiomics_hnc.dicom import import_dicom
    from radiomics_hnc.workspace import check_writable

    check_writable(out, "output folder")
    result = import_dicom(source, out, roi_map=roi_map, jobs=jobs, normalisation=suv,
                          nonuniform=nonuniform, center=center, skip_series=skip_series,
                          force=force, progress=state.progress)
    processed = set(result.processed)
    if not state.quiet:
        table = Table("patient", "status", "SUV factor", "label ROIs", "dose", "problems",
                      title="DICOM import")
        for record in result.records:
            if record["patient_id"] not in processed:
                continue
            problems = record.get("problems") or []
            errors = [p["message"] for p in problems if p["severity"] == "error"]
            rois = [r["name"] for r in record.get("rois") or [] if r.get("label")
                    and not r.get("refused")]
            factor = (record.get("suv") or {}).get("suv_factor")
            table.add_row(record["patient_id"],
                          Text(record["status"], style=_STATUS_STYLE[record["status"]]),
                          f"{factor:.4g}" if factor else "-", ", ".join(rois) or "-",
                          "yes" if record.get("dose") else "-",
                          errors[0] if errors else f"{len(problems)} notes in the log")
        console.print(table)
    counts = {status: len(result.with_status(status)) for status in _STATUS_STYLE}
    console.print(
        f"{len(processed)} patients read this run, {len(result.unchanged)} unchanged since the "
        f"last import; in the log: {counts['imported']} complete, {counts['partial']} partial "
        f"(a label or dose not imported), {counts['failed']} failed; "
        f"{len(result.unusable_files)} files not usable")
    console.print(f"log: {result.log_path}")
    console.print(f"clinical table to complete: {result.clinical_path}")


def register(app: typer.Typer) -> None:
    """Add the ``import-dicom`` command to ``app``."""
    app.command("import-dicom")(import_dicom_command)
