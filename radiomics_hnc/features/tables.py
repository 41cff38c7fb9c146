"""The feature tables: lesions (one row per lesion), patients (one row per patient), errors.

Patient-level columns carry their scope (docs/design.md): ``GTVp_<feature>`` is the primary's own
value (NaN without a primary; ``GTVp_MASK_count`` says whether there is one); ``GTVn_`` are
nodal aggregates; ``GTVall_`` whole-disease ones.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa

from radiomics_hnc.clinical import CLINICAL_COLUMNS

#: Identifier and status columns of lesions.parquet, before the feature columns.
LESION_ID_COLUMNS = ("patient_id", "center", "lesion_id", "label")
ERROR_COLUMNS = ("patient_id", "lesion_id", "stage", "error_type", "message")
FEATURE_MODALITIES = ("MASK", "CT", "PT", "RTDOSE")
#: Nodal aggregates: (lesion column, aggregate, patient column suffix).
_NODAL = (
    ("MASK_volume_ml", "sum", "MASK_volume_ml_sum"),
    ("MASK_volume_ml", "max", "MASK_volume_ml_max"),
    ("MASK_volume_ml", "mean", "MASK_volume_ml_mean"),
    ("PT_suv_SUVmax", "max", "PT_suv_SUVmax_max"),
    ("PT_suv_SUVpeak", "max", "PT_suv_SUVpeak_max"),
    ("PT_suv_MTV", "sum", "PT_suv_MTV_sum"),
    ("PT_suv_TLG", "sum", "PT_suv_TLG_sum"),
    ("RTDOSE_dvh_Dmean", "min", "RTDOSE_dvh_Dmean_min"),
)
_WHOLE = (
    ("MASK_volume_ml", "sum", "MASK_volume_ml"),
    ("PT_suv_MTV", "sum", "PT_suv_MTV"),
    ("PT_suv_TLG", "sum", "PT_suv_TLG"),
    ("PT_suv_SUVmax", "max", "PT_suv_SUVmax"),
)
_CENTROID = ["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]


def is_feature_column(name: str) -> bool:
    """True for ``<modality>_...`` feature columns."""
    return name.split("_", 1)[0] in FEATURE_MODALITIES


#: Types of lesions.parquet's status columns (a column that is null for every lesion would
#: otherwise come back as objects).
_STATUS_DTYPES = {"label": "int64", "too_small": "bool", "dose_available": "bool",
                  "dose_registration_metric": "float64",
                  "dose_registration_correlation": "float64",
                  "dose_registration_failed": "boolean"}


def lesion_column_order(columns: Iterable[str]) -> list[str]:
    """Ids, then status flags, then features grouped by modality (MASK, CT, PT, RTDOSE), each
    group in the given order."""
    columns = list(columns)
    ids = [c for c in LESION_ID_COLUMNS if c in columns]
    features = [c for m in FEATURE_MODALITIES for c in columns if c.split("_", 1)[0] == m]
    chosen = set(ids) | set(features)
    return ids + [c for c in columns if c not in chosen] + features


def patient_lesion_table(rows: list[dict]) -> pa.Table:
    """One patient's lesion rows as an Arrow table, columns in :func:`lesion_column_order`; a
    column missing from some rows (a modality that failed for that lesion) is null there.

    Built column by column from the rows: through a pandas DataFrame it cost ~0.2 s a patient
    with filtered image types (2268 columns), mostly pandas-to-Arrow conversion.
    """
    if not rows:
        return pa.table({"patient_id": pa.array([], pa.string())})
    columns = lesion_column_order(dict.fromkeys(key for row in rows for key in row))
    return pa.table({column: [row.get(column) for row in rows] for column in columns})


def lesions_frame(tables: list[pa.Table]) -> pd.DataFrame:
    """The lesions table from per-patient lesion tables: every column of any of them (null
    where a patient lacks it), ordered by :func:`lesion_column_order`, rows by patient, label
    and lesion number, status columns typed."""
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return pd.DataFrame(columns=["patient_id", "center", "lesion_id", "label"])
    frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    frame = frame[lesion_column_order(frame.columns)].sort_values(
        ["patient_id", "label", "lesion_id"], key=_lesion_sort_key).reset_index(drop=True)
    for column, dtype in _STATUS_DTYPES.items():  # DataFrame.astype would copy every column
        if column in frame:
            frame[column] = frame[column].astype(dtype)
    return frame


def _lesion_sort_key(column: pd.Series) -> pd.Series:
    if column.name == "lesion_id":  # GTVn_10 after GTVn_9
        return column.str.extract(r"(\d+)$")[0].astype(float).fillna(0)
    return column


def _aggregate(values: pd.Series, how: str) -> float:
    values = values.dropna()
    if values.empty:
        return float("nan")
    return float(getattr(values, how)())


def _max_centroid_distance(lesions: pd.DataFrame) -> float:
    if len(lesions) == 0:  # a cohort without any lesion has no centroid columns at all
        return float("nan")
    points = lesions[_CENTROID].to_numpy(dtype=float)
    diffs = points[:, None, :] - points[None, :, :]
    return float(np.sqrt((diffs**2).sum(axis=-1)).max())


def patient_row(lesions: pd.DataFrame, feature_columns: list[str]) -> dict[str, float]:
    """Scoped features of one patient from its lesion rows."""
    row: dict[str, float] = {}
    primary = lesions[lesions["lesion_id"] == "GTVp"]
    # One row read for all columns: per column indexing cost ~0.3 s a patient with filters.
    values = primary[feature_columns].iloc[0].tolist() if len(primary) else \
        [np.nan] * len(feature_columns)
    row.update({f"GTVp_{column}": float(value)
                for column, value in zip(feature_columns, values, strict=True)})
    row["GTVp_MASK_count"] = float(len(primary))  # 0: no visible primary
    nodes = lesions[lesions["label"] == 2]
    row["GTVn_MASK_count"] = float(len(nodes))
    for source, how, name in _NODAL:
        if source in lesions:
            row[f"GTVn_{name}"] = _aggregate(nodes[source], how)
    for source, how, name in _WHOLE:
        if source in lesions:
            row[f"GTVall_{name}"] = _aggregate(lesions[source], how)
    row["GTVall_MASK_count"] = float(len(lesions))
    row["GTVall_MASK_max_centroid_distance_mm"] = _max_centroid_distance(lesions)
    return row


def patients_table(lesions: pd.DataFrame, manifest: pd.DataFrame,
                   patient_ids: list[str]) -> pd.DataFrame:
    """One row per successfully extracted patient: ids, clinical columns, scoped features.

    A patient without lesions gets counts of 0 and NaN features.
    """
    feature_columns = [c for c in lesions.columns if is_feature_column(c)]
    clinical = [c for c in ("patient_id", "center", *CLINICAL_COLUMNS) if c in manifest]
    base = manifest.loc[manifest["patient_id"].isin(patient_ids), clinical]
    by_patient = dict(iter(lesions.groupby("patient_id", sort=False))) if len(lesions) else {}
    empty = lesions.iloc[0:0]
    rows = [{"patient_id": pid, **patient_row(by_patient.get(pid, empty), feature_columns)}
            for pid in base["patient_id"]]
    features = pd.DataFrame(rows, columns=None if rows else ["patient_id"])
    return base.merge(features, on="patient_id", how="left").sort_values(
        "patient_id").reset_index(drop=True)


def errors_table(records: list[dict]) -> pd.DataFrame:
    """The errors table (patient_id, lesion_id or null, stage, error_type, message)."""
    frame = pd.DataFrame(records, columns=list(ERROR_COLUMNS))
    return frame.astype({c: "string" for c in ERROR_COLUMNS}).sort_values(
        ["patient_id", "lesion_id"], na_position="first").reset_index(drop=True)
