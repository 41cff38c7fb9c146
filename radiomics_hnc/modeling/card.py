"""A short Markdown model card: data, validation, metrics with CIs, top features, limits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from radiomics_hnc.modeling.specs import ModelSpec

_INTENDED = {
    "rfs": "ranking patients by risk of relapse after (chemo)radiotherapy for research",
    "hpv": "estimating HPV status from imaging for research where p16/HPV testing is missing",
}


def _fmt(entry: dict[str, Any]) -> str:
    est, low, high = entry["estimate"], entry["ci_low"], entry["ci_high"]
    return f"{est:.3f} (95% CI {low:.3f}-{high:.3f})"


def model_card(spec: ModelSpec, metrics: dict[str, Any], importance: pd.DataFrame,
               columns: Sequence[str], top: int = 10) -> str:
    """Markdown text of the model card of one run."""
    predictors = ([f"feature sets: {', '.join(spec.features)}"] if spec.features else []) + (
        [f"named columns: {', '.join(spec.columns)}"] if spec.columns else [])
    lines = [f"# Model card: {spec.name}", "", spec.description or "", "",
             "## Data", f"- task: {spec.task}; {'; '.join(predictors)}",
             f"- patients: {metrics['n_patients']} ({metrics['n_labelled']} with a known "
             f"endpoint); input features: {len(columns)}",
             f"- estimator: `{spec.estimator}` {spec.params or ''}", "",
             "## Validation", f"- scheme: {metrics['cv']} (out-of-fold predictions; every "
             "learnt step, ComBat included, fitted inside each training fold)"]
    if metrics.get("pooled_centres"):
        lines.append(f"- centres pooled into one fold (too small alone): "
                     f"{', '.join(metrics['pooled_centres'])}")
    lines += ["", "## Metrics (bootstrap 95% CI)", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in metrics["metrics"].items()]
    lines += ["", f"## Top {top} features", "", "| feature | importance |", "|---|---|"]
    lines += [f"| {r.feature} | {r.importance:.4g} |" for r in importance.head(top).itertuples()]
    lines += ["", "## Intended use and limits", f"- intended use: {_INTENDED[spec.task]}.",
              "- not validated for clinical decisions; performance at a new centre may differ "
              "from the out-of-fold estimates above.",
              "- needs the same feature extraction settings and a table with every input column.",
              ""]
    return "\n".join(lines)
