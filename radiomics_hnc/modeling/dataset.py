"""From ``features/patients.parquet`` to model inputs: feature columns per set and targets."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sksurv.util import Surv

from radiomics_hnc.clinical import CLINICAL_COLUMNS, ENDPOINT_COLUMNS, accepted_spellings
from radiomics_hnc.errors import InputDataError
from radiomics_hnc.workspace import FEATURE_SCOPES, is_patient_feature

CENTRE_COLUMN = "center"
#: Clinical predictors: the clinical columns except endpoints and the published centre code.
CLINICAL_PREDICTORS = tuple(c for c in CLINICAL_COLUMNS
                            if c not in (*ENDPOINT_COLUMNS, "center_id"))
_STAGE = re.compile(r"^\s*[TNM]?\s*(\d)")


def feature_columns(table: pd.DataFrame, feature_sets: Sequence[str],
                    named: Sequence[str] = ()) -> list[str]:
    """Columns of ``table`` in the requested sets (modality token after the scope prefix), then
    the ``named`` columns not already among them.

    Raises :class:`InputDataError` when a named column is absent or has no value at all,
    saying where the column comes from and what to add (:func:`missing_columns_error`).
    """
    absent = [c for c in dict.fromkeys(named) if c not in table.columns]
    empty = [c for c in dict.fromkeys(named) if c in table.columns and table[c].isna().all()]
    if absent or empty:
        raise missing_columns_error(absent, empty)
    columns: list[str] = []
    for name in table.columns:
        parts = str(name).split("_", 2)
        if len(parts) >= 2 and parts[0] in FEATURE_SCOPES and parts[1] in feature_sets:
            columns.append(str(name))
    if "clinical" in feature_sets:
        columns = [c for c in CLINICAL_PREDICTORS if c in table.columns] + columns
    columns += [c for c in dict.fromkeys(named) if c not in columns]
    if not columns:
        raise InputDataError(f"no feature columns for sets {list(feature_sets)}",
                             hint="check the features table was extracted for these modalities")
    return columns


def encode_clinical(table: pd.DataFrame) -> pd.DataFrame:
    """Numeric copy of the predictors: stages 'T2', 'N1', 'M0' become 2, 1, 0; Mx missing.

    A fixed, row-wise encoding (nothing is learnt), so it is safe outside the CV folds.
    """
    out = table.copy()
    for column in ("t_stage", "n_stage", "m_stage"):
        if column in out.columns:
            out[column] = out[column].map(_stage_number).astype(float)
    return out


def _stage_number(value: object) -> float:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return np.nan
    match = _STAGE.match(str(value))
    return float(match.group(1)) if match else np.nan


def missing_columns_error(absent: Sequence[str], empty: Sequence[str] = ()) -> InputDataError:
    """The error for columns a model needs that the patients table lacks (``absent``) or has
    without any value (``empty``), saying for each where it comes from and what to add."""
    problems = []
    if absent:
        shown = ", ".join(absent[:10]) + (" ..." if len(absent) > 10 else "")
        problems.append(f"the table lacks {len(absent)} column(s) the model needs: {shown}")
    if empty:
        problems.append(f"the table's column(s) {', '.join(empty)} have no value for any "
                        "patient")
    hints = []
    for column in [*absent, *empty]:
        if column == CENTRE_COLUMN:
            hints.append(f"{column!r} holds each patient's centre: use a patients table "
                         "written by extract")
        elif column in CLINICAL_COLUMNS:
            spellings = accepted_spellings(column)
            hints.append(f"{column!r} comes from the clinical table (a column headed "
                         f"{spellings}, ignoring case, spaces and punctuation): add it there "
                         "and rerun discover and extract, or copy the spec and remove it from "
                         "'columns'")
    extracted = [c for c in [*absent, *empty] if is_patient_feature(c)]
    if extracted:
        hints.append(f"{', '.join(extracted[:3])}{' ...' if len(extracted) > 3 else ''} come "
                     "from feature extraction: use a patients table extracted with the same "
                     "feature configs and modalities")
    other = [c for c in [*absent, *empty]
             if c not in CLINICAL_COLUMNS and c != CENTRE_COLUMN and not is_patient_feature(c)]
    if other:
        hints.append(f"{', '.join(other)} {'is' if len(other) == 1 else 'are'} neither clinical "
                     "nor extracted: add the column to the patients table, or remove it from "
                     "the spec's 'columns'")
    return InputDataError("; ".join(problems), hint="; ".join(hints))


def model_inputs(table: pd.DataFrame, columns: Sequence[str],
                 covariate_columns: Sequence[str] = ()) -> pd.DataFrame:
    """The modelling frame: the feature columns as floats plus the centre column.

    ``covariate_columns`` (those of ``columns`` that are ComBat covariates, not predictors)
    are kept as they are:
    ComBat one-hot encodes text. Any other column with text that is not a number (after the
    stage encoding) raises :class:`InputDataError`: it would otherwise become missing values.
    """
    missing = [c for c in [*columns, CENTRE_COLUMN] if c not in table.columns]
    if missing:
        raise missing_columns_error(missing)
    numeric = [c for c in columns if c not in covariate_columns]
    encoded = encode_clinical(table[numeric])
    frame = encoded.apply(pd.to_numeric, errors="coerce").astype(float)
    _refuse_text(encoded, frame)
    for column in covariate_columns:
        frame[column] = table[column].to_numpy()
    frame = frame[list(columns)]
    frame[CENTRE_COLUMN] = table[CENTRE_COLUMN].astype(str).to_numpy()
    frame.index = table["patient_id"].astype(str).to_numpy() if "patient_id" in table else None
    return frame


def _refuse_text(encoded: pd.DataFrame, numeric: pd.DataFrame) -> None:
    """Raise when a value present in ``encoded`` did not survive the conversion to numbers."""
    lost = encoded.notna() & numeric.isna()
    for column in encoded.columns[lost.any().to_numpy()]:
        values = sorted({str(v) for v in encoded.loc[lost[column], column]})
        raise InputDataError(
            f"column {column!r} holds text that is not a number ({', '.join(values[:5])}): "
            "as a predictor it would become missing values",
            hint="encode it as numbers in the patients table (e.g. 1/0), or name it in "
            "preprocessing.combat_covariates only, where text is one-hot encoded")


def survival_target(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Structured (relapse, rfs_days) array and the mask of patients with both known."""
    for column in ("relapse", "rfs_days"):
        if column not in table.columns:
            raise InputDataError(f"the patients table has no {column!r} column")
    event = pd.to_numeric(table["relapse"], errors="coerce").to_numpy(dtype=float)
    time = pd.to_numeric(table["rfs_days"], errors="coerce").to_numpy(dtype=float)
    known = np.isfinite(event) & np.isfinite(time) & (time > 0)
    y = Surv.from_arrays(event=np.nan_to_num(event).astype(bool),
                         time=np.where(known, time, 1.0), name_event="relapse",
                         name_time="rfs_days")
    return y, known


#: What a patient needs for each task to be labelled, in words.
LABEL_NEEDS = {"rfs": "a known RFS (relapse and rfs_days > 0)", "hpv": "a known HPV status"}


def require_labelled(known: np.ndarray, task: str) -> None:
    """Refuse, before any split, a table where no patient has a known outcome for ``task``."""
    if not np.any(known):
        raise InputDataError(
            f"no patient has {LABEL_NEEDS[task]}: there is nothing to fit or validate a {task} "
            "model on",
            hint="check the clinical table's outcome columns (relapse and RFS for rfs, HPV "
            "status for hpv) and rerun discover and extract, or fit the other task")


def hpv_target(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """0/1 HPV status and the mask of patients with a known status."""
    if "hpv_status" not in table.columns:
        raise InputDataError("the patients table has no 'hpv_status' column")
    status = pd.to_numeric(table["hpv_status"], errors="coerce").to_numpy(dtype=float)
    known = np.isfinite(status)
    return np.nan_to_num(status).astype(int), known
