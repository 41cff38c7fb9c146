"""``radiomics-hnc demo``: a generated multicentre cohort through the whole pipeline, with the
generator's oracle beside the headline numbers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from radiomics_hnc.headline import Headline, headline
from radiomics_hnc.pipeline import PipelineSettings, Stage, StageOutcome, run_pipeline, run_stages
from radiomics_hnc.resources import DEMO_SEGMENTER_MINUTES
from radiomics_hnc.workspace import Workspace

#: The demo's segmenter spec (``models/seg_unet_demo.yaml``): the light UNet with demo-only
#: settings that learn GTVp and GTVn within the demo's minutes of CPU training.
DEMO_SEGMENTER_SPEC = "seg_unet_demo"


@dataclass(frozen=True)
class DemoResult:
    """What the demo ran and found.

    ``oracle``: the generator's scores of the true risk and HPV probability (``oracle.json``,
    pooled over centres); ``oracle_within_centre``: the same over same-centre pairs, the
    yardstick of the fold-aware headline figures.
    """

    headline: Headline
    oracle: dict[str, float]
    oracle_within_centre: dict[str, float]
    stages: list[StageOutcome]
    report: Path


def demo(
    out_dir: str | Path,
    *,
    patients: int = 200,
    seed: int = 0,
    jobs: int = 2,
    segmenter_minutes: float = DEMO_SEGMENTER_MINUTES,
    progress: bool = False,
) -> DemoResult:
    """Generate the default synthetic cohort and run the whole pipeline on it.

    ``out_dir/cohort`` receives the generated dataset and its ground truth, ``out_dir/workspace``
    the pipeline's files.
    """
    out = Path(out_dir)
    cohort_dir = out / "cohort"
    settings = {"patients": patients, "seed": seed, "scale": "small"}

    def generate() -> None:
        from radiomics_hnc.synth import generate_cohort

        generate_cohort(cohort_dir, patients, seed, scale="small", jobs=jobs, progress=progress)

    run_stages([Stage("synth", generate, [cohort_dir / "ground_truth" / "oracle.json"],
                      settings=settings)], out / "pipeline")
    run_settings = PipelineSettings(segment=True, segmenter_spec=DEMO_SEGMENTER_SPEC,
                                    segmenter_minutes=segmenter_minutes, jobs=jobs,
                                    progress=progress)
    outcomes = run_pipeline(cohort_dir / "dataset", out / "workspace", run_settings)
    return DemoResult(
        headline=headline(out / "workspace"),
        oracle=json.loads((cohort_dir / "ground_truth" / "oracle.json").read_text()),
        oracle_within_centre=oracle_within_centre(cohort_dir / "ground_truth"),
        stages=outcomes,
        report=Workspace(out / "workspace").report_dir / "index.html",
    )


def oracle_within_centre(truth_dir: str | Path) -> dict[str, float]:
    """C-index of the true risk and AUC of the true HPV probability of a generated cohort over
    same-centre pairs (Task 2 and Task 3 patients): the yardsticks of the fold-aware
    (within-centre) figures of leave-one-centre-out runs, as ``oracle.json`` is of the pooled
    ones."""
    import pandas as pd

    from radiomics_hnc.modeling.dataset import survival_target
    from radiomics_hnc.modeling.metrics import within_centre_auc, within_centre_c

    truth = pd.read_parquet(Path(truth_dir) / "patients.parquet")
    task2 = truth[truth["tasks"].str.contains("2")]
    task3 = truth[truth["tasks"].str.contains("3")]
    y, _ = survival_target(task2)  # the generator's outcomes are all known
    return {
        "c_index": round(within_centre_c(y, task2["true_risk"].to_numpy(),
                                         task2["center"].to_numpy()), 4),
        "hpv_auc": round(within_centre_auc(task3["true_hpv"].to_numpy().astype(int),
                                           task3["true_hpv_probability"].to_numpy(),
                                           task3["center"].to_numpy()), 4),
    }
