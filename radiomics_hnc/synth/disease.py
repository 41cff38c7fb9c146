"""Where the disease is: the primary tumour in the oropharynx and the nodes along the neck.

Sizes and appearance depend on HPV status (:mod:`radiomics_hnc.synth.hpv`): HPV-driven tumours
have smaller (or no visible) primaries, more uniform uptake and more, larger, often cystic
nodes. The primary grows from an oropharyngeal subsite (tonsil, base of tongue, soft palate,
posterior wall: :data:`PRIMARY_SUBSITES`), nodes lie at the neck levels that oropharyngeal
cancer drains to (mostly II and III: :data:`NODE_LEVELS`); where they are is drawn
independently of HPV status, so the HPV posterior stays exact. Lesions are placed so that they
never touch each other, so every node is its own connected component of label 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radiomics_hnc.synth.anatomy import primary_sites
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
#: Oropharyngeal subsites of the primary: share of patients and how the tumour spreads
#: (elongation per axis, and the direction, away from the airway, its centre moves as it grows).
PRIMARY_SUBSITES = {
    "tonsil": (0.55, (0.9, 1.0, 1.2), (1.0, 0.0, 0.0)),
    "base_of_tongue": (0.32, (1.25, 0.85, 0.95), (0.0, -1.0, 0.0)),
    "soft_palate": (0.06, (1.3, 1.1, 0.7), (0.0, -0.5, 0.5)),
    "posterior_wall": (0.07, (1.5, 0.55, 1.3), (0.0, 1.0, 0.0)),
}
#: Neck levels of the nodes: share, then |x|, y and z ranges (mm, anatomical frame).
NODE_LEVELS = {
    "II": (0.55, (24, 44), (-10, 22), (-14, 32)),
    "III": (0.22, (24, 40), (-6, 16), (-52, -12)),
    "IV": (0.08, (20, 38), (-4, 16), (-95, -52)),
    "V": (0.05, (38, 52), (24, 44), (-90, 10)),
    "RP": (0.06, (10, 18), (8, 14), (16, 34)),
    "Ib": (0.04, (18, 34), (-42, -26), (-22, -2)),
}
NODE_ELONGATION = np.array([0.85, 0.85, 1.4])
#: Share of nodes on the other side of the neck than the patient's main side; attempts at
#: placing a node in its level before another level is drawn.
P_CONTRALATERAL, LEVEL_ATTEMPTS = 0.25, 40


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


def site_parameters() -> dict[str, object]:
    """Subsite and neck-level shares, for ``parameters.json``."""
    return {"primary_subsites": {k: v[0] for k, v in PRIMARY_SUBSITES.items()},
            "node_levels": {k: v[0] for k, v in NODE_LEVELS.items()},
            "p_contralateral_node": P_CONTRALATERAL}


def sample_disease(rng: np.random.Generator, hpv: HpvEvidence, min_gap_mm: float,
                   min_volume_ml: float, frame_scale: np.ndarray | None = None) -> Disease:
    """Sample a primary (most patients) and 0-6 nodes for a patient.

    Parameters
    ----------
    hpv
        HPV status; the draws that depend on it add their evidence to it.
    min_gap_mm
        Smallest surface gap between lesions (a few voxels, so that nodes stay separate).
    min_volume_ml
        Smallest volume, so that a lesion covers a few voxels of the grid.
    frame_scale
        The patient's body size per axis (lesions live in the anatomical frame).
    """
    scale = np.ones(3) if frame_scale is None else np.asarray(frame_scale, float)
    gap = min_gap_mm / float(scale.min())
    lesions: list[Lesion] = []
    has_primary = not hpv.draw_bernoulli(rng, P_NO_PRIMARY)
    if has_primary:
        volume = np.clip(np.exp(hpv.draw_normal(rng, PRIMARY_LOG_ML, PRIMARY_LOG_ML_SD)),
                         *PRIMARY_ML)
        heterogeneity = np.clip(hpv.draw_normal(rng, PRIMARY_HETEROGENEITY,
                                                PRIMARY_HETEROGENEITY_SD), 0.05, 0.5)
        suv = rng.uniform(7, 16) * (1 + 0.12 * np.log(volume / 16.0))
        core = rng.uniform(0.3, 0.55) if rng.random() < 0.2 + 0.2 * (volume > 30) else 0.0
        lesions.append(_primary(rng, max(volume, min_volume_ml), suv, heterogeneity, core,
                                scale))
    n_nodes = min(MAX_NODES, hpv.draw_poisson(rng, NODE_RATE))
    n_nodes = max(n_nodes, 0 if has_primary else 1)
    side = int(rng.choice([-1, 1]))
    for _ in range(n_nodes):
        volume = np.clip(np.exp(hpv.draw_normal(rng, NODE_LOG_ML, NODE_LOG_ML_SD)), *NODE_ML)
        cystic = hpv.draw_bernoulli(rng, P_CYSTIC)
        core = rng.uniform(0.4, 0.7) if cystic else 0.0
        heterogeneity = np.clip(rng.normal(0.2, 0.07), 0.05, 0.5)
        suv = rng.uniform(4, 12)
        lesion = _place_node(rng, lesions, side, max(volume, min_volume_ml), suv, heterogeneity,
                             core, cystic, gap, scale)
        if lesion is not None:
            lesions.append(lesion)
    return Disease(lesions)


def _primary(rng: np.random.Generator, volume: float, suv: float, heterogeneity: float,
             core: float, scale: np.ndarray) -> Lesion:
    """The primary at a subsite, its centre moved away from the airway as it grows."""
    names = list(PRIMARY_SUBSITES)
    shares = np.array([PRIMARY_SUBSITES[n][0] for n in names])
    site = names[int(rng.choice(len(names), p=shares / shares.sum()))]
    _, elongation, outward = PRIMARY_SUBSITES[site]
    side = int(rng.choice([-1, 1]))
    center = primary_sites()[site].copy()
    direction = np.array(outward, float)
    if site == "tonsil":
        center[0] *= -side  # the table gives the right tonsil (negative x)
        direction[0] = side
    radius = (3 * volume * 1000 / (4 * np.pi)) ** (1 / 3)
    center += 0.35 * radius * direction + rng.normal(0, 2.0, 3)
    return sample_lesion(rng, GTVP, center, volume, suv, heterogeneity, core, cystic=False,
                         elongation=np.array(elongation), frame_scale=scale,
                         site=f"{site}_{'left' if side > 0 else 'right'}"
                         if site == "tonsil" else site)


def _place_node(rng: np.random.Generator, placed: list[Lesion], side: int, volume: float,
                suv: float, heterogeneity: float, core: float, cystic: bool,
                min_gap_mm: float, scale: np.ndarray) -> Lesion | None:
    """A node at a neck level that keeps ``min_gap_mm`` from every placed lesion: a position
    in the drawn level first, another level only when the drawn one has no room."""
    names = list(NODE_LEVELS)
    shares = np.array([NODE_LEVELS[n][0] for n in names])
    level = names[int(rng.choice(len(names), p=shares / shares.sum()))]
    node_side = -side if rng.random() < P_CONTRALATERAL else side
    for attempt in range(100):
        if attempt and attempt % LEVEL_ATTEMPTS == 0:
            level = names[int(rng.choice(len(names), p=shares / shares.sum()))]
        _, x_range, y_range, z_range = NODE_LEVELS[level]
        center = np.array([node_side * rng.uniform(*x_range), rng.uniform(*y_range),
                           rng.uniform(*z_range)])
        lesion = sample_lesion(rng, GTVN, center, volume * (0.97**attempt), suv,
                               heterogeneity, core, cystic, elongation=NODE_ELONGATION,
                               frame_scale=scale,
                               site=f"{level}_{'left' if node_side > 0 else 'right'}")
        if all(np.linalg.norm(other.center - center) > _clearance(other, lesion) + min_gap_mm
               for other in placed):
            return lesion
    return None


def _clearance(placed: Lesion, node: Lesion) -> float:
    """Smallest centre distance (mm) that keeps ``node`` off ``placed``: their largest reaches
    between nodes (every node its own connected component); from the primary, whose lobes
    reach far in a few directions only, its mean radius (a node may abut a primary)."""
    if placed.label == GTVP:
        return placed.radius * float(placed.stretch.max()) + node.reach
    return placed.reach + node.reach
