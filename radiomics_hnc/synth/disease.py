"""Where the disease is: the primary tumour in the oropharynx and the nodes along the neck.

Sizes and appearance depend on HPV status (:mod:`radiomics_hnc.synth.hpv`): HPV-driven tumours
have smaller (or no visible) primaries, more uniform uptake and more, larger, often cystic
nodes. Lesions are placed so that they never touch each other, so every node is its own
connected component of label 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radiomics_hnc.synth.hpv import (
    NODE_LOG_ML,
    NODE_LOG_ML_SD,
    NODE_RATE,
    P_CYSTIC,
    P_NO_PRIMARY,
    PRIMARY_HETEROGENEITY,
    PRIMARY_HETEROGENEITY_SD,
    PRIMARY_LOG_ML,
    PRIMARY_LOG_ML_SD,
    HpvEvidence,
)
from radiomics_hnc.synth.lesions import GTVN, GTVP, Lesion, sample_lesion

MAX_NODES = 6
#: Volume limits (ml) of primaries and nodes.
PRIMARY_ML, NODE_ML = (1.0, 150.0), (0.3, 40.0)


@dataclass(frozen=True)
class Disease:
    """The lesions of a patient and the summary quantities the outcome model uses."""

    lesions: list[Lesion]

    @property
    def has_primary(self) -> bool:
        return any(lesion.label == GTVP for lesion in self.lesions)

    @property
    def node_count(self) -> int:
        return sum(lesion.label == GTVN for lesion in self.lesions)

    @property
    def total_volume_ml(self) -> float:
        """Metabolic tumour volume of the whole disease (ml)."""
        return float(sum(lesion.volume_ml for lesion in self.lesions))

    @property
    def primary_volume_ml(self) -> float:
        """Volume of the primary (ml; 0 without one)."""
        return float(sum(les.volume_ml for les in self.lesions if les.label == GTVP))

    @property
    def primary_heterogeneity(self) -> float:
        """Uptake heterogeneity (texture amplitude) of the primary (0 without one)."""
        return float(sum(les.heterogeneity for les in self.lesions if les.label == GTVP))

    @property
    def nodal_volume_ml(self) -> float:
        """Total volume of the nodes (ml)."""
        return float(sum(les.volume_ml for les in self.lesions if les.label == GTVN))

    @property
    def nodal_log_volume_sum(self) -> float:
        """Sum of the nodes' log volumes (ml): what the HPV evidence of node sizes depends on."""
        return float(sum(np.log(les.volume_ml) for les in self.lesions if les.label == GTVN))

    @property
    def cystic_node_count(self) -> int:
        """Nodes with a cystic core (only cystic nodes get a core)."""
        return sum(les.label == GTVN and les.core_fraction > 0 for les in self.lesions)

    @property
    def heterogeneity(self) -> float:
        """Volume-weighted uptake heterogeneity (texture amplitude, plus necrosis)."""
        weights = np.array([lesion.volume_ml for lesion in self.lesions])
        values = np.array([lesion.heterogeneity + 0.5 * lesion.core_fraction
                           for lesion in self.lesions])
        return float((weights * values).sum() / weights.sum())


def sample_disease(rng: np.random.Generator, hpv: HpvEvidence, min_gap_mm: float,
                   min_volume_ml: float) -> Disease:
    """Sample a primary (most patients) and 0-6 nodes for a patient.

    Parameters
    ----------
    hpv
        HPV status; the draws that depend on it add their evidence to it.
    min_gap_mm
        Smallest surface gap between lesions (a few voxels, so that nodes stay separate).
    min_volume_ml
        Smallest volume, so that a lesion covers a few voxels of the grid.
    """
    lesions: list[Lesion] = []
    has_primary = not hpv.draw_bernoulli(rng, P_NO_PRIMARY)
    if has_primary:
        volume = np.clip(np.exp(hpv.draw_normal(rng, PRIMARY_LOG_ML, PRIMARY_LOG_ML_SD)),
                         *PRIMARY_ML)
        center = np.array([rng.choice([-1, 1]) * rng.uniform(0, 10), rng.normal(-8, 3),
                           rng.normal(8, 5)])
        heterogeneity = np.clip(hpv.draw_normal(rng, PRIMARY_HETEROGENEITY,
                                                PRIMARY_HETEROGENEITY_SD), 0.05, 0.5)
        suv = rng.uniform(7, 16) * (1 + 0.12 * np.log(volume / 16.0))
        core = rng.uniform(0.3, 0.55) if rng.random() < 0.2 + 0.2 * (volume > 30) else 0.0
        lesions.append(sample_lesion(rng, GTVP, center, max(volume, min_volume_ml), suv,
                                     heterogeneity, core, cystic=False))
    n_nodes = min(MAX_NODES, hpv.draw_poisson(rng, NODE_RATE))
    n_nodes = max(n_nodes, 0 if has_primary else 1)
    side = rng.choice([-1, 1])
    for _ in range(n_nodes):
        volume = np.clip(np.exp(hpv.draw_normal(rng, NODE_LOG_ML, NODE_LOG_ML_SD)), *NODE_ML)
        cystic = hpv.draw_bernoulli(rng, P_CYSTIC)
        core = rng.uniform(0.4, 0.7) if cystic else 0.0
        heterogeneity = np.clip(rng.normal(0.2, 0.07), 0.05, 0.5)
        suv = rng.uniform(4, 12)
        lesion = _place_node(rng, lesions, side, max(volume, min_volume_ml), suv, heterogeneity,
                             core, cystic, min_gap_mm)
        if lesion is not None:
            lesions.append(lesion)
    return Disease(lesions)


def _place_node(rng: np.random.Generator, placed: list[Lesion], side: int, volume: float,
                suv: float, heterogeneity: float, core: float, cystic: bool,
                min_gap_mm: float) -> Lesion | None:
    """A node at neck levels II-IV that keeps ``min_gap_mm`` from every placed lesion."""
    for attempt in range(100):
        contralateral = rng.random() < 0.25
        x = (-side if contralateral else side) * rng.uniform(24, 40)
        center = np.array([x, rng.uniform(-16, 12), rng.uniform(-70, 20)])
        lesion = sample_lesion(rng, GTVN, center, volume * (0.97**attempt), suv,
                               heterogeneity, core, cystic)
        if all(np.linalg.norm(other.center - center) > other.reach + lesion.reach + min_gap_mm
               for other in placed):
            return lesion
    return None
