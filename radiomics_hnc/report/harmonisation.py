"""Harmonisation section: the centre effect in the feature table before and after ComBat.

Both views come from the same cross-validation loop: in each fold the imputer, ComBat (when
requested), the scaler and a centre classifier are fitted on the training patients only, and
the held-out patients are transformed and their centre predicted. A centre classifier close
to chance on harmonised features means ComBat removed the centre effect; the PCA projection
shows the same thing visually.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from radiomics_hnc.report import figures
from radiomics_hnc.report.content import Figure, Section, Table, Text
from radiomics_hnc.workspace import is_patient_feature

MAX_MISSING_FRACTION = 0.5
N_FOLDS = 5
MIN_CENTRE_PATIENTS = N_FOLDS
#: The centre classifier sees the leading principal components of the training fold: centre
#: effects are broad shifts that load on them, and it keeps 1000-feature tables fast.
CLASSIFIER_COMPONENTS = 50
#: A factory of a fresh, unfitted ComBat transformer (``None`` shows the raw view only).
CombatFactory = Callable[[], object] | None


def harmonisation_section(patients: pd.DataFrame, dpi: int, seed: int = 0,
                          combat: CombatFactory = None) -> Section | None:
    """PCA coloured by centre and out-of-fold centre prediction, raw and after ComBat."""
    features, centres = feature_matrix(patients)
    if features.shape[1] < 2 or centres.nunique() < 2:
        return None
    views = {"Raw features": centre_effect(features, centres, seed, None)}
    if combat is not None:
        views["After ComBat"] = centre_effect(features, centres, seed, combat)
    chance = 1.0 / centres.nunique()
    section = Section("harmonisation", "Harmonisation (centre effect)")
    section.blocks.append(Text(
        f"{features.shape[1]} features of {len(features)} patients from {centres.nunique()} "
        f"centres (centres with fewer than {MIN_CENTRE_PATIENTS} patients left out). A "
        f"logistic regression on the first {CLASSIFIER_COMPONENTS} principal components "
        f"predicts the centre from the features in {N_FOLDS}-fold "
        "stratified cross-validation; imputation, ComBat and scaling are fitted inside each "
        f"training fold. Chance balanced accuracy is {chance:.2f}."))
    rows = [{"Features": name, "Centre prediction balanced accuracy": round(score, 3),
             "Chance": round(chance, 3)} for name, (score, _) in views.items()]
    section.blocks.append(Table("centre_prediction", "Out-of-fold centre prediction (lower is "
                                "less centre effect).", pd.DataFrame(rows)))
    section.blocks.append(pca_figure({k: v[1] for k, v in views.items()}, centres, dpi))
    if combat is None:
        section.blocks.append(Text("ComBat was not available in this installation: only the "
                                   "raw features are shown.", style="note"))
    return section


def feature_matrix(patients: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Numeric radiomics columns (scope prefixes) of centres large enough to cross-validate."""
    counts = patients["center"].value_counts()
    keep = patients["center"].isin(counts[counts >= MIN_CENTRE_PATIENTS].index)
    table = patients[keep].reset_index(drop=True)
    columns = [c for c in table.columns if is_patient_feature(c)]
    numeric = table[columns].apply(pd.to_numeric, errors="coerce").astype(float)
    numeric = numeric.loc[:, numeric.isna().mean() <= MAX_MISSING_FRACTION]
    numeric = numeric.loc[:, numeric.std(skipna=True) > 0]
    return numeric, table["center"].astype(str)


def centre_effect(features: pd.DataFrame, centres: pd.Series, seed: int,
                  combat: CombatFactory) -> tuple[float, np.ndarray]:
    """Out-of-fold centre-prediction balanced accuracy and the out-of-fold feature matrix."""
    folds = StratifiedKFold(N_FOLDS, shuffle=True, random_state=seed)
    transformed = np.zeros(features.shape)
    predicted = np.empty(len(centres), dtype=object)
    for train, test in folds.split(features, centres):
        x_train, x_test = _fit_transform_fold(features.iloc[train], centres.iloc[train],
                                              features.iloc[test], centres.iloc[test], combat)
        components = min(CLASSIFIER_COMPONENTS, x_train.shape[1], len(train) - 1)
        classifier = make_pipeline(
            PCA(components, whiten=True, svd_solver="covariance_eigh"),
            LogisticRegression(C=0.1, max_iter=1000))
        classifier.fit(x_train, centres.iloc[train])
        predicted[test] = classifier.predict(x_test)
        transformed[test] = x_test
    return float(balanced_accuracy_score(centres, predicted.astype(str))), transformed


def _fit_transform_fold(x_train: pd.DataFrame, c_train: pd.Series, x_test: pd.DataFrame,
                        c_test: pd.Series, combat: CombatFactory) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """Impute, harmonise and scale with statistics of the training fold only."""
    imputer = SimpleImputer(strategy="median").fit(x_train)
    train = pd.DataFrame(imputer.transform(x_train), columns=x_train.columns)
    test = pd.DataFrame(imputer.transform(x_test), columns=x_test.columns)
    if combat is not None:
        harmoniser = combat()
        train = harmoniser.fit_transform(train.assign(center=c_train.to_numpy()))
        test = harmoniser.transform(test.assign(center=c_test.to_numpy()))
    scaler = StandardScaler().fit(np.asarray(train, dtype=float))
    return (scaler.transform(np.asarray(train, dtype=float)),
            scaler.transform(np.asarray(test, dtype=float)))


def pca_figure(views: dict[str, np.ndarray], centres: pd.Series, dpi: int) -> Figure:
    """First two principal components of each view, one colour per centre."""
    colours = figures.centre_colours(centres)
    fig, axes = figures.new_figure(4.2 * len(views) + 0.8, 4.0, ncols=len(views))
    for ax, (name, matrix) in zip(axes, views.items(), strict=True):
        pca = PCA(n_components=2, svd_solver="covariance_eigh").fit(matrix)
        points = pca.transform(matrix)
        for centre in sorted(colours):
            mask = (centres == centre).to_numpy()
            ax.scatter(points[mask, 0], points[mask, 1], s=10, alpha=0.7, color=colours[centre],
                       label=figures.plain(centre), linewidths=0)
        ratio = pca.explained_variance_ratio_ * 100
        ax.set_xlabel(f"PC1 ({ratio[0]:.0f} % of variance, standardised units)")
        ax.set_ylabel(f"PC2 ({ratio[1]:.0f} % of variance)")
        ax.set_title(name, fontsize=9)
    axes[-1].legend(title="Centre", fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return Figure(figures.to_data_uri(fig, dpi), "Principal component projection of the "
                  "out-of-fold feature matrix, coloured by centre.", "PCA by centre")
