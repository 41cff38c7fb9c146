"""A short Markdown model card: data, validation, metrics with CIs, top features, limits."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from radiomics_hnc.modeling.records import InputUse, RunRecord
from radiomics_hnc.modeling.specs import ModelSpec

_INTENDED = {
    "rfs": "ranking patients by risk of relapse after (chemo)radiotherapy for research",
    "hpv": "estimating HPV status from imaging for research where p16/HPV testing is missing",
}


#: Why the pooled figures are secondary, in one sentence (model card and report).
POOLED_NOTE = ("Pooled figures (c_index, roc_auc, ...) rank patients scored by different fold "
               "models against each other, on risk scales that need not agree, so they can sit "
               "below 0.5 for a sound model or away from 0.5 for a constant one; they are "
               "secondary.")


def _inputs_lines(inputs: InputUse) -> list[str]:
    lines = [f"- usable inputs: {inputs.n_usable} of {inputs.n_inputs}; "
             f"{inputs.n_used_by_final_model} reach the final model's estimator"]
    if inputs.warning:
        lines.append(f"- **warning: {inputs.warning}**")
    return lines


def model_card(spec: ModelSpec, record: RunRecord, importance: pd.DataFrame,
               columns: Sequence[str], top: int = 10) -> str:
    """Markdown text of the model card of one run."""
    predictors = ([f"feature sets: {', '.join(spec.features)}"] if spec.features else []) + (
        [f"named columns: {', '.join(spec.columns)}"] if spec.columns else [])
    lines = [f"# Model card: {spec.name}", "", spec.description or "", "",
             "## Data", f"- task: {spec.task}; {'; '.join(predictors)}",
             f"- patients: {record.n_patients} ({record.n_labelled} with a known "
             f"endpoint); input features: {len(columns)}",
             f"- estimator: `{spec.estimator}` {spec.params or ''}",
             *_inputs_lines(record.inputs), "",
             "## Validation", f"- scheme: {record.cv} (out-of-fold predictions; every "
             "learnt step, ComBat included, fitted inside each training fold)"]
    if record.pooled_centers:
        lines.append(f"- centres pooled into one fold (too small alone): "
                     f"{', '.join(record.pooled_centers)}")
    lines += ["", "## Metrics (bootstrap 95% CI)", ""]
    if record.degenerate is not None:
        lines += [f"**Not scored: degenerate model.** {record.degenerate.reason}: its "
                  "out-of-fold predictions rank nobody, so every metric is left empty.", ""]
    headline = record.headline
    lines += [f"Headline: `{headline.metric}`, the {headline.definition}. " + POOLED_NOTE, ""]
    lines += ["| metric | value |", "|---|---|"]
    lines += [f"| {k}{' (headline)' if k == headline.metric else ''} | {v.text()} |"
              for k, v in record.metrics.items()]
    summary = record.fold_summary
    if summary.n_scored > 1:
        lines += ["", f"Per-fold {summary.metric}: mean {summary.mean:.3f}, SD "
                  f"{summary.sd:.3f} over {summary.n_scored} folds."]
    lines += ["", f"## Top {top} features", "", "| feature | importance |", "|---|---|"]
    lines += [f"| {r.feature} | {r.importance:.4g} |" for r in importance.head(top).itertuples()]
    lines += ["", "## Intended use and limits", f"- intended use: {_INTENDED[spec.task]}.",
              "- not validated for clinical decisions; performance at a new centre may differ "
              "from the out-of-fold estimates above.",
              "- needs the same feature extraction settings and a table with every input column.",
              ""]
    return "\n".join(lines)
