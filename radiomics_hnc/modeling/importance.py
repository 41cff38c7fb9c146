"""Feature importance of a fitted pipeline, in the original feature names.

xgboost models: mean |SHAP| from xgboost's own ``pred_contribs``. Other models: permutation
importance of the final estimator on the selected features (decrease in C-index or ROC AUC).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline

from radiomics_hnc.modeling.estimators import XGBSurvival


def feature_importance(pipeline: Pipeline, X: pd.DataFrame, y, task: str,
                       seed: int = 0, n_repeats: int = 3,
                       max_patients: int = 500) -> pd.DataFrame:
    """Columns ``feature``, ``importance``, ``method`` sorted by decreasing importance.

    Permutation importance scores at most ``max_patients`` patients per repeat (a random
    subset), which bounds its cost for slow predictors such as random survival forests.
    """
    transformed = np.asarray(pipeline[:-1].transform(X), dtype=float)
    names = [str(n) for n in pipeline[:-1].get_feature_names_out()]
    estimator = pipeline[-1]
    if isinstance(estimator, XGBSurvival | xgb.XGBClassifier):
        booster = estimator.booster() if isinstance(estimator, XGBSurvival) else (
            estimator.get_booster())
        contribs = booster.predict(xgb.DMatrix(transformed), pred_contribs=True)[:, :-1]
        values, method = np.abs(contribs).mean(axis=0), "mean_abs_shap"
    else:
        scoring = "roc_auc" if task == "hpv" else None
        result = permutation_importance(estimator, transformed, y, scoring=scoring,
                                        n_repeats=n_repeats, random_state=seed,
                                        max_samples=min(1.0, max_patients / len(transformed)))
        values, method = result.importances_mean, "permutation"
    table = pd.DataFrame({"feature": names, "importance": values, "method": method})
    return table.sort_values("importance", ascending=False, ignore_index=True)


