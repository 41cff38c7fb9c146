"""Where the disease is: the primary tumour in the oropharynx and the nodes along the neck.

Sizes and appearance depend on the patient's latent HPV biology: HPV-driven tumours have
smaller primaries and larger, more often cystic nodes. Lesions are placed so that they never
touch each other, so every node is its own connected component of label 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radiomics_hnc.synth.lesions import GTVN, GTVP, Lesion, sample_lesion

#: Probability that a patient has no primary tumour (nodal disease of unknown primary).
P_NO_PRIMARY = 0.07
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
    def heterogeneity(self) -> float:
        """Volume-weighted uptake heterogeneity (texture amplitude, plus necrosis)."""
        weights = np.array([lesion.volume_ml for lesion in self.lesions])
        values = np.array([lesion.heterogeneity + 0.5 * lesion.core_fraction
                           for lesion in self.lesions])
        return float((weights * values).sum() / weights.sum())


def sample_disease(rng: np.random.Generator, hpv_biology: float, min_gap_mm: float,
                   min_volume_ml: float) -> Disease:
    """Sample a primary (most patients) and 0-6 nodes for a patient.

    Parameters
    ----------
    hpv_biology
        Latent HPV-driven biology (standard normal; higher = more HPV-like).
    min_gap_mm
        Smallest surface gap between lesions (a few voxels, so that nodes stay separate).
    min_volume_ml
        Smallest volume, so that a lesion covers a few voxels of the grid.
    """
    lesions: list[Lesion] = []
    has_primary = rng.random() >= P_NO_PRIMARY
    if has_primary:
        volume = np.clip(np.exp(rng.normal(np.log(16.0) - 0.45 * hpv_biology, 0.9)), *PRIMARY_ML)
        center = np.array([rng.choice([-1, 1]) * rng.uniform(0, 10), rng.normal(-8, 3),
                           rng.normal(8, 5)])
        heterogeneity = np.clip(rng.normal(0.25 - 0.05 * hpv_biology, 0.08), 0.05, 0.5)
        suv = rng.uniform(7, 16) * (1 + 0.12 * np.log(volume / 16.0))
        core = rng.uniform(0.3, 0.55) if rng.random() < 0.2 + 0.2 * (volume > 30) else 0.0
        lesions.append(sample_lesion(rng, GTVP, center, max(volume, min_volume_ml), suv,
                                     heterogeneity, core, cystic=False))
    n_nodes = min(MAX_NODES, int(rng.poisson(1.4 + 0.5 * max(hpv_biology, -1.0))))
    n_nodes = max(n_nodes, 0 if has_primary else 1)
    p_cystic = 1 / (1 + np.exp(-(-1.6 + 1.6 * hpv_biology)))
    side = rng.choice([-1, 1])
    for _ in range(n_nodes):
        volume = np.clip(np.exp(rng.normal(np.log(2.5) + 0.35 * hpv_biology, 0.9)), *NODE_ML)
        cystic = rng.random() < p_cystic
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
