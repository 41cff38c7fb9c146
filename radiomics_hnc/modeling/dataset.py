"""From ``features/patients.parquet`` to model inputs: feature columns per set and targets."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sksurv.util import Surv

from radiomics_hnc.clinical import CLINICAL_COLUMNS, ENDPOINT_COLUMNS
from radiomics_hnc.errors import InputDataError
from radiomics_hnc.workspace import FEATURE_SCOPES

CENTRE_COLUMN = "center"
#: Clinical predictors: the clinical columns except endpoints and the published centre code.
CLINICAL_PREDICTORS = tuple(c for c in CLINICAL_COLUMNS
                            if c not in (*ENDPOINT_COLUMNS, "center_id"))
_STAGE = re.compile(r"^\s*[TNM]?\s*(\d)")


def feature_columns(table: pd.DataFrame, feature_sets: Sequence[str],
                    named: Sequence[str] = ()) -> list[str]:
    """Columns of ``table`` in the requested sets (modality token after the scope prefix), then
    the ``named`` columns not already among them.

    Named columns are not checked here: :func:`model_inputs` names any the table lacks.
    """
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


def model_inputs(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The modelling frame: the feature columns as floats plus the centre column."""
    missing = [c for c in [*columns, CENTRE_COLUMN] if c not in table.columns]
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise InputDataError(f"the table lacks {len(missing)} column(s) the model needs: {shown}",
                             hint="use a patients table extracted with the same feature configs")
    encoded = encode_clinical(table[list(columns)])
    frame = encoded.apply(pd.to_numeric, errors="coerce").astype(float)
    frame[CENTRE_COLUMN] = table[CENTRE_COLUMN].astype(str).to_numpy()
    frame.index = table["patient_id"].astype(str).to_numpy() if "patient_id" in table else None
    return frame


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


def hpv_target(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """0/1 HPV status and the mask of patients with a known status."""
    if "hpv_status" not in table.columns:
        raise InputDataError("the patients table has no 'hpv_status' column")
    status = pd.to_numeric(table["hpv_status"], errors="coerce").to_numpy(dtype=float)
    known = np.isfinite(status)
    return np.nan_to_num(status).astype(int), known
