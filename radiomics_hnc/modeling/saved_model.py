"""Loading a run's ``model.skops`` from exact trusted types only.

A run folder may come from another centre or a shared drive, so its model file is hostile
input: skops reconstructs objects without unpickling, and this module decides which types it
may reconstruct (an explicit, reviewed allow-list) and checks the decision trees inside, whose
node arrays scikit-learn follows without bounds checks.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio
from sklearn.base import BaseEstimator
from sklearn.tree._tree import Tree

from radiomics_hnc.errors import InputDataError

MODEL_FILE = "model.skops"
#: The types outside skops' default trusted set that a model written by ``fit`` contains,
#: by exact name (never by module prefix: ``builtins.exec`` is a "builtins." type too). It is
#: what skops reports for every shipped spec, every registry estimator and every pipeline
#: option; ``tests/test_security.py`` fits each and fails when this list lacks a type, so
#: adding an estimator means reviewing its types here. ``sklearn.tree._tree.Tree`` is
#: trusted only with :func:`_check_trees` (skops leaves it out: its node arrays are indexed
#: without bounds checks).
TRUSTED_TYPES = frozenset({
    "numpy.dtype",
    "radiomics_hnc.harmonize.ComBat",
    "radiomics_hnc.modeling.estimators.CoxnetCV",
    "radiomics_hnc.modeling.estimators.XGBAFTSurvival",
    "radiomics_hnc.modeling.estimators.XGBCoxSurvival",
    "radiomics_hnc.modeling.pipeline.CorrelationFilter",
    "radiomics_hnc.modeling.pipeline.CoxScoreSelector",
    "radiomics_hnc.modeling.pipeline.L1LogisticCV",
    "sklearn.feature_selection._univariate_selection.f_classif",
    "sklearn.tree._tree.Tree",
    "sksurv.ensemble.boosting.ComponentwiseGradientBoostingSurvivalAnalysis",
    "sksurv.ensemble.boosting.GradientBoostingSurvivalAnalysis",
    "sksurv.ensemble.boosting._ComponentwiseLeastSquares",
    "sksurv.ensemble.forest.RandomSurvivalForest",
    "sksurv.ensemble.survival_loss.CoxPH",
    "sksurv.functions.StepFunction",
    "sksurv.linear_model.coxnet.CoxnetSurvivalAnalysis",
    "sksurv.linear_model.coxph.BreslowEstimator",
    "sksurv.linear_model.coxph.CoxPHSurvivalAnalysis",
    "sksurv.tree.tree.SurvivalTree",
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
})


def load_model(run_dir: str | Path):
    """Load a run's model, refusing any type outside skops' trusted set and :data:`TRUSTED_TYPES`.

    Raises :class:`InputDataError` naming the file for a file that is not a skops archive (a
    pickle, say), for untrusted types (listed), and for trees whose node arrays point outside
    themselves.
    """
    path = Path(run_dir) / MODEL_FILE
    if not path.is_file():
        raise InputDataError("no saved model in the run folder", path=path,
                             hint="rerun 'radiomics-hnc fit'")
    hint = "only load run folders that you or radiomics-hnc wrote; rerun 'radiomics-hnc fit'"
    try:
        untrusted = set(sio.get_untrusted_types(file=path))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        found = ("a Python pickle, which radiomics-hnc never loads (unpickling runs arbitrary "
                 "code)" if path.read_bytes()[:1] == b"\x80" else f"an unreadable file ({exc})")
        raise InputDataError(f"not a skops model file: {found}", path=path, hint=hint) from exc
    refused = sorted(untrusted - TRUSTED_TYPES)
    if refused:
        raise InputDataError(f"model file contains types that radiomics-hnc never writes: "
                             f"{', '.join(refused)}; refusing to load it", path=path, hint=hint)
    try:
        model = sio.load(path, trusted=sorted(untrusted))
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise InputDataError(f"model file could not be loaded ({type(exc).__name__}: {exc})",
                             path=path, hint="compare versions.json with the installed "
                             "packages, or rerun 'radiomics-hnc fit'") from exc
    _check_trees(model, path)
    return model


def _check_trees(model: Any, path: Path) -> None:
    """Refuse decision trees whose child or feature indices point outside their arrays.

    scikit-learn follows these indices without bounds checks, so a crafted tree would read
    arbitrary memory at prediction time. Trees are built depth first: a node's children come
    after it, which also rules out cycles.
    """
    for tree in _trees(model, set()):
        n_nodes = tree.node_count
        nodes = np.arange(n_nodes)
        left, right, feature = tree.children_left, tree.children_right, tree.feature
        split = left != -1
        sound = (len(left) == len(right) == len(feature) == tree.value.shape[0] == n_nodes
                 and bool(np.all(right[~split] == -1))
                 and all(bool(np.all((child[split] > nodes[split]) & (child[split] < n_nodes)))
                         for child in (left, right))
                 and bool(np.all((feature[split] >= 0) & (feature[split] < tree.n_features))))
        if not sound:
            raise InputDataError("model file holds a decision tree whose nodes point outside "
                                 "the tree; refusing to use it", path=path,
                                 hint="the file is damaged or was edited; rerun "
                                 "'radiomics-hnc fit'")


def _trees(node: Any, seen: set[int]) -> Iterator[Tree]:
    """Every scikit-learn ``Tree`` inside a fitted model (pipelines, ensembles, estimators)."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, Tree):
        yield node
        return
    if isinstance(node, dict):
        children: Any = node.values()
    elif isinstance(node, (list, tuple)):
        children = node
    elif isinstance(node, np.ndarray) and node.dtype == object:
        children = node.ravel()
    elif isinstance(node, BaseEstimator):
        children = vars(node).values()
    else:
        return
    for child in children:
        yield from _trees(child, seen)
