"""The head-and-neck phantom: the anatomy a segmenter must learn to tell apart from tumour.

Structures are analytic shapes (:mod:`radiomics_hnc.synth.shapes`) in the patient's
*anatomical frame* (mm, LPS: x to the patient's left, y posterior, z superior; z = 0 about the
level of the second cervical vertebra), so that the CT, the PET and the planning CT all sample
the same anatomy on their own grids. The patient's :class:`Posture` (head flexion and turn, body
size) maps scanner points into that frame. Each structure paints one tissue, later ones over
earlier ones; a tissue has a CT value (HU), an FDG uptake (SUV) and a kind (air, soft tissue,
bone, metal) that decides where tumour can grow.

What the CT shows: skull with diploe, skull base, orbits, paranasal sinuses, maxilla, teeth
(some with metal fillings), mandible with marrow, tongue, the airway from the nasopharynx to
the trachea changing shape along z, pharyngeal constrictors, larynx with cartilages, hyoid,
cervical spine (bodies with marrow, discs, arches, canal, cord), carotid arteries and jugular
veins, neck muscles, glands, thyroid, deep and subcutaneous fat by body habitus, shoulders,
lung apices (the renderer adds the couch). What the PET shows besides tumour: brain (grey
and white matter, cerebellum), Waldeyer's ring (palatine and lingual tonsils, adenoid, soft
palate), salivary glands, vocal cords, extraocular muscles, spinal cord, marrow, blood pool
and, in some patients, active muscles and brown fat. The uptake ranges and the share of
patients with each finding are documented in ``docs/generator.md`` with their sources.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radiomics_hnc.synth.shapes import (
    Above,
    Box3,
    Ellipsoid,
    Intersection,
    Outline,
    Region,
    Shape,
    Tube,
    Union,
    ellipsoid,
    tube,
)

AIR_HU = -1000.0
#: Tissue kinds: tumour grows only into soft tissue (it respects air and bone).
AIR, SOFT, BONE, METAL = "air", "soft", "bone", "metal"
#: Pivot (mm) of head and neck flexion (about the cervicothoracic junction), and the height over
#: which the bend builds up.
FLEXION_PIVOT, FLEXION_RAMP_MM = np.array([0.0, 30.0, -95.0]), 70.0
#: Centre (mm) about which body size is scaled.
SIZE_CENTER = np.array([0.0, 15.0, -20.0])
#: The oropharynx (mm, anatomical frame): where primaries grow; used to name the primary.
OROPHARYNX = np.array([0.0, -2.0, 10.0])
#: Tooth positions along each dental arch (angle from the midline, degrees) and arch heights.
TOOTH_ANGLES = np.linspace(-92.0, 92.0, 14)
UPPER_ARCH_Z, LOWER_ARCH_Z = 19.0, 7.0
#: Muscle groups that may be active (FDG uptake) in a patient, with their prevalence.
MUSCLE_GROUPS = {"muscle_masticator": 0.06, "muscle_scm": 0.06, "muscle_longus": 0.05,
                 "muscle_scalene": 0.04, "muscle_trapezius": 0.04, "tongue": 0.05,
                 "constrictor": 0.05}
P_BROWN_FAT, P_TALKING, P_METAL = 0.04, 0.2, 0.5
#: Teeth present (upper and lower arch, 14 positions each); a filling is (arch, tooth, radius).
Teeth = tuple[tuple[bool, ...], tuple[bool, ...]]
Filling = tuple[int, int, float]


@dataclass(frozen=True)
class Tissue:
    """One tissue: CT value (HU), FDG uptake (SUV) and kind (air, soft, bone, metal)."""

    name: str
    hu: float
    suv: float
    kind: str


def _cos_sin(angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosine and sine of small angles (radians, under 0.3) by their Taylor series: float32 and
    several times faster than ``np.cos`` on millions of points (error under 1e-6)."""
    square = angle * angle
    cos = 1 - square * (0.5 - square * np.float32(1 / 24))
    sin = angle * (1 - square * (np.float32(1 / 6) - square * np.float32(1 / 120)))
    return cos, sin


@dataclass(frozen=True)
class Posture:
    """How the patient lies: flexion of head and neck (degrees, positive chin down), turn of
    the head (degrees, positive to the patient's left) and body size (per axis, 1 average)."""

    flexion_deg: float = 0.0
    turn_deg: float = 0.0
    size: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def to_anatomy(self, points: np.ndarray) -> np.ndarray:
        """Scanner points (..., 3, mm) in the anatomical frame: the bend builds up above the
        cervicothoracic junction, so the shoulders stay where they are."""
        pivot = FLEXION_PIVOT.astype(np.float32)
        x, y, z = (np.asarray(points[..., i], np.float32) - pivot[i] for i in range(3))
        weight = np.clip(z * np.float32(1 / FLEXION_RAMP_MM), 0.0, 1.0)
        cos, sin = _cos_sin(weight * np.float32(-np.deg2rad(self.flexion_deg)))
        y, z = cos * y - sin * z, sin * y + cos * z
        cos, sin = _cos_sin(weight * np.float32(-np.deg2rad(self.turn_deg)))
        x, y = cos * x - sin * y, sin * x + cos * y
        out = np.empty(np.shape(points), np.float32)
        for i, value in enumerate((x, y, z)):
            center, size = np.float32(SIZE_CENTER[i]), np.float32(self.size[i])
            out[..., i] = (value + (pivot[i] - center)) / size + center
        return out

    def to_scanner(self, points: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`to_anatomy` (fixed-point iteration; the bend is gentle)."""
        target = np.asarray(points, float)
        guess = target.copy()
        for _ in range(8):
            guess = guess + (target - self.to_anatomy(guess))
        return guess


@dataclass(frozen=True)
class AnatomyParams:
    """A patient's anatomy and physiology: posture and size, habitus, teeth, uptake levels.

    ``suv`` and ``hu`` override the default uptake and CT value of the named tissues;
    ``fillings`` are ``(arch, tooth, radius mm)`` with arch 0 upper, 1 lower.
    """

    posture: Posture
    neck_fat_mm: float
    airway_scale: float
    airway_jitter: tuple[float, ...]
    teeth: Teeth
    fillings: tuple[Filling, ...]
    suv: dict[str, float]
    hu: dict[str, float]
    tonsil_size: float
    brown_fat: bool
    active_muscles: tuple[str, ...]
    talking: bool
    oral_air: bool
    piriform_air: tuple[bool, bool] = (True, True)

    def truth(self) -> dict[str, object]:
        """The values the ground-truth table records."""
        return {
            "flexion_deg": self.posture.flexion_deg, "head_turn_deg": self.posture.turn_deg,
            "body_size": float(np.mean(self.posture.size)), "neck_fat_mm": self.neck_fat_mm,
            "dental_metal": bool(self.fillings), "metal_fillings": len(self.fillings),
            "teeth_present": int(sum(map(sum, self.teeth))), "brown_fat": self.brown_fat,
            "active_muscles": ";".join(self.active_muscles), "vocal_cord_uptake": self.talking,
            **{f"suv_{name}": value for name, value in sorted(self.suv.items())},
        }


def _lognormal(rng: np.random.Generator, median: float, sigma: float, low: float,
               high: float) -> float:
    return float(np.clip(median * np.exp(rng.normal(0, sigma)), low, high))


def _uptakes(rng: np.random.Generator, age: float, smoker: bool) -> dict[str, float]:
    """Physiological SUVs (body weight) of one patient.

    Waldeyer's ring and the sublingual glands take up less with age (Nakamoto 2005) and the
    palatine tonsils less in smokers (Birkin 2018); both tonsils share a level, the left/right
    ratio varies a little (1st-99th percentile 0.70-1.36 in Birkin 2018).
    """
    youth = np.exp(-0.012 * (age - 60.0))
    tonsil = _lognormal(rng, 4.0 * youth * (0.9 if smoker else 1.0), 0.3, 1.5, 11.0)
    ratio = float(np.exp(rng.normal(0, 0.12)))
    grey = float(rng.uniform(7.0, 12.0))
    return {
        "brain_grey": grey, "palatine_tonsil_right": tonsil * np.sqrt(ratio),
        "palatine_tonsil_left": tonsil / np.sqrt(ratio),
        "lingual_tonsil": _lognormal(rng, 3.0 * youth, 0.3, 1.3, 8.0),
        "soft_palate": _lognormal(rng, 2.9, 0.25, 1.5, 6.0),
        "adenoid": _lognormal(rng, 2.6 * youth**2, 0.3, 1.0, 7.0),
        "sublingual": _lognormal(rng, 2.8 * youth, 0.3, 1.2, 6.5),
        "parotid": _lognormal(rng, 1.9, 0.22, 1.1, 4.0),
        "submandibular": _lognormal(rng, 2.1, 0.22, 1.2, 4.5),
        "blood": float(np.clip(rng.normal(1.6, 0.3), 1.0, 2.6)),
        "marrow": float(np.clip(rng.normal(1.6, 0.3), 0.9, 2.8)),
        "spinal_cord": float(np.clip(rng.normal(1.9, 0.3), 1.1, 3.0)),
        "muscle": float(np.clip(rng.normal(0.75, 0.12), 0.45, 1.2)),
        "extraocular": _lognormal(rng, 2.4, 0.25, 1.2, 5.0),
        "vocal_cords": float(rng.uniform(1.3, 2.2)),
        "thyroid": _lognormal(rng, 1.3, 0.2, 0.8, 3.0),
        "esophagus": float(rng.uniform(1.3, 2.2)),
        "tongue": float(rng.uniform(1.0, 1.6)),
        "constrictor": float(rng.uniform(0.9, 1.6)),
    }


def _teeth(rng: np.random.Generator, age: float) -> Teeth:
    """Which teeth are present (more missing with age; a few patients without any)."""
    if rng.random() < 0.004 * max(age - 45.0, 0.0):
        return (False,) * 14, (False,) * 14
    p_missing = float(np.clip(0.02 + 0.006 * (age - 40.0), 0.02, 0.45))
    upper, lower = (tuple(bool(rng.random() > p_missing) for _ in range(14)) for _ in range(2))
    return upper, lower


def _fillings(rng: np.random.Generator, teeth: Teeth) -> tuple[Filling, ...]:
    """Metal fillings or crowns in about half of the patients with teeth (premolars, molars)."""
    back_teeth = [(arch, k) for arch in (0, 1) for k in (*range(5), *range(9, 14))
                  if teeth[arch][k]]
    if not back_teeth or rng.random() >= P_METAL:
        return ()
    count = min(len(back_teeth), 1 + int(rng.poisson(2.5)))
    chosen = rng.choice(len(back_teeth), size=count, replace=False)
    return tuple((*back_teeth[i], float(rng.uniform(1.8, 3.5))) for i in sorted(chosen))


def sample_anatomy(rng: np.random.Generator, traits: dict[str, float]) -> AnatomyParams:
    """Draw one patient's anatomy and physiology.

    Depends on the patient's age, sex and smoking only (never directly on HPV status), so the
    HPV posterior of :mod:`radiomics_hnc.synth.hpv` stays exact.
    """
    age, male = traits["age"], bool(traits["gender"])
    size_xy = float(np.clip(rng.normal(1.0 if male else 0.93, 0.04), 0.82, 1.15))
    posture = Posture(flexion_deg=float(np.clip(rng.normal(0, 5.0), -12, 12)),
                      turn_deg=float(np.clip(rng.normal(0, 2.5), -7, 7)),
                      size=(size_xy, size_xy, float(np.clip(rng.normal(size_xy, 0.03),
                                                            0.82, 1.15))))
    suv = _uptakes(rng, age, bool(traits["tobacco"]))
    active = tuple(name for name, p in MUSCLE_GROUPS.items() if rng.random() < p)
    for name in active:
        suv[name] = float(rng.uniform(2.0, 5.0))
    brown_fat = bool(rng.random() < P_BROWN_FAT * (1.8 if not male else 0.7) * (
        1.5 if age < 50 else 1.0))
    if brown_fat:
        suv["brown_fat"] = float(rng.uniform(3.0, 12.0))
    talking = bool(rng.random() < P_TALKING)
    if talking:
        suv["vocal_cords"] = float(rng.uniform(2.5, 5.0))
    teeth = _teeth(rng, age)
    hu = {"fat": float(rng.normal(-100, 7)), "muscle": float(rng.normal(48, 5)),
          "parotid": float(np.clip(rng.normal(15 - 0.6 * (age - 40), 15), -60, 40)),
          "cartilage": float(np.clip(80 + 9 * (age - 35) + rng.normal(0, 60), 70, 700)),
          "marrow": float(np.clip(rng.normal(330 - 3.0 * (age - 40), 45), 120, 450))}
    return AnatomyParams(
        posture=posture, neck_fat_mm=_lognormal(rng, 7.0 if male else 8.5, 0.4, 2.0, 28.0),
        airway_scale=float(rng.uniform(0.8, 1.2)),
        airway_jitter=tuple(float(v) for v in rng.uniform(0.8, 1.2, 12)),
        teeth=teeth, fillings=_fillings(rng, teeth), suv=suv, hu=hu,
        tonsil_size=_lognormal(rng, float(np.exp(-0.01 * (age - 55))), 0.2, 0.5, 1.8),
        brown_fat=brown_fat, active_muscles=active, talking=talking,
        oral_air=bool(rng.random() < 0.7),
        piriform_air=(bool(rng.random() < 0.6), bool(rng.random() < 0.6)))


#: Default tissues: HU (unenhanced CT) and SUV, overridden per patient by ``AnatomyParams``.
TISSUES: tuple[Tissue, ...] = (
    Tissue("outside", AIR_HU, 0.0, AIR), Tissue("air", AIR_HU, 0.0, AIR),
    Tissue("lung", -840.0, 0.4, AIR),
    Tissue("fat", -100.0, 0.35, SOFT), Tissue("brown_fat", -75.0, 0.4, SOFT),
    Tissue("muscle", 48.0, 0.75, SOFT), Tissue("muscle_scm", 48.0, 0.75, SOFT),
    Tissue("muscle_masticator", 50.0, 0.75, SOFT), Tissue("muscle_longus", 48.0, 0.75, SOFT),
    Tissue("muscle_scalene", 48.0, 0.75, SOFT), Tissue("muscle_trapezius", 48.0, 0.75, SOFT),
    Tissue("constrictor", 45.0, 1.2, SOFT), Tissue("tongue", 58.0, 1.3, SOFT),
    Tissue("cortical_bone", 1300.0, 0.5, BONE), Tissue("diploe", 650.0, 0.7, BONE),
    Tissue("marrow", 300.0, 1.6, BONE), Tissue("tooth", 2400.0, 0.3, BONE),
    Tissue("metal", 3071.0, 0.0, METAL), Tissue("cartilage", 200.0, 0.6, SOFT),
    Tissue("tracheal_wall", 90.0, 0.8, SOFT), Tissue("disc", 85.0, 0.8, SOFT),
    Tissue("csf", 8.0, 0.3, SOFT),
    Tissue("spinal_cord", 35.0, 1.9, SOFT), Tissue("brain_grey", 38.0, 9.0, SOFT),
    Tissue("brain_white", 28.0, 3.2, SOFT), Tissue("deep_grey", 40.0, 9.5, SOFT),
    Tissue("cerebellum", 38.0, 7.5, SOFT), Tissue("brainstem", 33.0, 5.0, SOFT),
    Tissue("eye", 12.0, 0.3, SOFT), Tissue("extraocular", 50.0, 2.4, SOFT),
    Tissue("blood", 42.0, 1.6, SOFT), Tissue("parotid", 10.0, 1.9, SOFT),
    Tissue("submandibular", 38.0, 2.1, SOFT), Tissue("sublingual", 40.0, 2.8, SOFT),
    Tissue("palatine_tonsil_right", 45.0, 4.0, SOFT),
    Tissue("palatine_tonsil_left", 45.0, 4.0, SOFT), Tissue("lingual_tonsil", 45.0, 3.0, SOFT),
    Tissue("adenoid", 45.0, 2.6, SOFT), Tissue("soft_palate", 45.0, 2.9, SOFT),
    Tissue("vocal_cords", 45.0, 1.8, SOFT), Tissue("thyroid", 105.0, 1.3, SOFT),
    Tissue("esophagus", 40.0, 1.7, SOFT),
)
#: Tissues that fill the patient's skull, for the brain-to-cerebellum proportions.
BRAIN_FRACTIONS = {"brain_white": 0.35, "deep_grey": 1.05, "cerebellum": 0.85,
                   "brainstem": 0.6}
#: Where brown fat lies when it is active (compartments named in :func:`_deep_fat`).
BROWN_FAT_SITES = ("supraclavicular", "posterior_triangle", "paravertebral")


@dataclass(frozen=True)
class Phantom:
    """A patient's tissues (index 0 is outside the body) and structures in painting order."""

    tissues: tuple[Tissue, ...]
    structures: tuple[tuple[int, Shape], ...]
    posture: Posture

    @property
    def hu_table(self) -> np.ndarray:
        return np.array([t.hu for t in self.tissues], np.float32)

    @property
    def suv_table(self) -> np.ndarray:
        return np.array([t.suv for t in self.tissues], np.float32)

    def kind_mask(self, *kinds: str) -> np.ndarray:
        """Lookup table: True for the tissues of the given kinds."""
        return np.array([t.kind in kinds for t in self.tissues], bool)

    def index_of(self, name: str) -> int:
        return next(k for k, t in enumerate(self.tissues) if t.name == name)

    def paint(self, region: Region) -> np.ndarray:
        """Tissue index (uint8) at the points of ``region`` (anatomical frame)."""
        index = np.zeros(region.shape, np.uint8)
        for tissue, shape in self.structures:
            for part in shape.parts():
                block = region.block(*part.bounds())
                if block is not None:
                    index[block][part.inside(region.points[block])] = tissue
        return index


def build_phantom(params: AnatomyParams) -> Phantom:
    """The tissues with the patient's values and every structure, in painting order."""
    tissues = []
    for tissue in TISSUES:
        suv = params.suv.get(tissue.name, tissue.suv)
        if tissue.name in BRAIN_FRACTIONS:
            suv = BRAIN_FRACTIONS[tissue.name] * params.suv["brain_grey"]
        if tissue.name == "brown_fat" and not params.brown_fat:
            suv = TISSUES[_tissue_position("fat")].suv
        tissues.append(Tissue(tissue.name, params.hu.get(tissue.name, tissue.hu), suv,
                              tissue.kind))
    names = {t.name: k for k, t in enumerate(tissues)}
    pieces = (_body(params) + _deep_fat(params) + _trunk() + _skull() + _spine() + _face()
              + _glands() + _muscles() + _vessels() + _oral(params) + _pharynx(params)
              + _larynx(params) + _teeth_and_metal(params))
    structures = tuple((names[name], shape) for name, shape in pieces)
    return Phantom(tuple(tissues), structures, params.posture)


def _tissue_position(name: str) -> int:
    return next(k for k, t in enumerate(TISSUES) if t.name == name)


Pieces = list[tuple[str, Shape]]


def _pair(name: str, make) -> Pieces:  # type: ignore[no-untyped-def]
    """A left-right pair of structures: ``make(side)`` with side -1 (right) and +1 (left)."""
    return [(name, Union((make(-1), make(1))))]


def _outline(margin: np.ndarray) -> Outline:
    """The lean body (no subcutaneous fat) grown by ``margin`` (mm per level)."""
    table = np.array([
        # z   cy  half-width front back power
        [-420, 22, 190, 95, 95, 3.0],
        [-140, 22, 190, 85, 88, 3.0],
        [-118, 20, 150, 72, 80, 3.0],
        [-98, 18, 80, 58, 68, 2.6],
        [-78, 15, 56, 50, 62, 2.2],
        [-40, 14, 54, 56, 62, 2.0],
        [-28, 12, 56, 62, 66, 2.1],
        [-16, 8, 58, 84, 70, 2.3],
        [0, 6, 60, 88, 74, 2.3],
        [20, 2, 64, 86, 84, 2.3],
        [45, 2, 68, 84, 88, 2.2],
        [75, 8, 70, 86, 90, 2.0],
        [112, 12, 70, 86, 90, 2.0],
    ])
    z, cy, ax, front, back, power = table.T
    return Outline(z, cy, ax, front, back, power, margin)


def _body(params: AnatomyParams) -> Pieces:
    """Skin and subcutaneous fat (thicker with body habitus, thin over the face and scalp),
    then the lean body (muscle by default), the cranial vault and the nose."""
    fat_profile = np.array([1.5, 1.4, 1.3, 1.1, 1.0, 1.0, 1.0, 0.8, 0.55, 0.4, 0.35, 0.3, 0.3])
    skin = _outline(params.neck_fat_mm * fat_profile + 1.5)
    vault = ellipsoid((0, 12, 92), (77, 95, 72))
    return [("fat", Union((skin, vault))), ("muscle", _outline(np.zeros(13))),
            ("muscle", ellipsoid((0, -90, 42), (10, 13, 20)))]


def _deep_fat(params: AnatomyParams) -> Pieces:
    """Fat compartments between the neck's muscles; brown fat where it is active."""
    sites = {
        "parapharyngeal": lambda s: ellipsoid((s * 25, 0, 18), (7, 9, 16)),
        "buccal": lambda s: ellipsoid((s * 40, -45, 20), (9, 14, 12)),
        "carotid_sheath": lambda s: ellipsoid((s * 31, 10, -45), (12, 10, 45)),
        "posterior_triangle": lambda s: ellipsoid((s * 42, 33, -55), (10, 16, 40)),
        "supraclavicular": lambda s: ellipsoid((s * 58, 12, -106), (30, 24, 16)),
        "paravertebral": lambda s: ellipsoid((s * 30, 58, -105), (10, 10, 32)),
    }
    pieces: Pieces = [("fat", ellipsoid((0, -46, -20), (26, 14, 9))),
                      ("fat", ellipsoid((0, -15, -200), (42, 45, 70)))]
    for site, make in sites.items():
        tissue = "brown_fat" if params.brown_fat and site in BROWN_FAT_SITES else "fat"
        pieces += _pair(tissue, make)
    return pieces


def _rib(side: int, z: float, radius: float) -> Shape:
    """One rib from the spine round the chest wall to the front (mm)."""
    return tube([(side * 16, 62, z), (side * 62, 62, z - 8), (side * 100, 5, z - 22),
                 (side * 62, -52, z - 38), (side * 22, -56, z - 46)], radius)


def _trunk() -> Pieces:
    """Lung apices, shoulder girdle (clavicles, scapulae, humeri), upper ribs, sternum and the
    aortic arch (the lower field of view)."""
    pieces: Pieces = [("lung", Union((ellipsoid((-62, 15, -250), (52, 68, 145)),
                                      ellipsoid((62, 15, -250), (52, 68, 145)))))]
    clavicle = [(16, -48, -112), (60, -40, -110), (110, -8, -101), (140, 22, -96)]
    for tissue, radius in (("cortical_bone", 6.5), ("marrow", 4.0)):
        pieces += _pair(tissue, lambda s, r=radius: tube(
            [(s * x, y, z) for x, y, z in clavicle], r))
        pieces += _pair(tissue, lambda s, r=radius: tube(
            [(s * 165, 25, -140), (s * 172, 25, -420)], r * 2.0))
        pieces += _pair(tissue, lambda s, r=radius: ellipsoid((s * 155, 25, -138),
                                                              (r * 3.6,) * 3))
        for z in (-118, -142, -166, -190, -214):
            pieces += _pair(tissue, lambda s, z=z, r=radius: _rib(s, z, r * 0.65))
    pieces += _pair("cortical_bone", lambda s: ellipsoid((s * 100, 72, -175), (36, 6, 62),
                                                         (0, 0, s * 28)))
    pieces += [("cortical_bone", ellipsoid((0, -58, -140), (24, 7, 18))),
               ("cortical_bone", ellipsoid((0, -62, -215), (15, 7, 55))),
               ("blood", tube([(14, -30, -440), (10, -24, -178), (-4, -2, -160),
                               (-18, 32, -176), (-20, 38, -440)], 13.0)),
               ("blood", tube([(-2, -14, -166), (-14, -6, -126)], 6.0))]
    return pieces


def spine_y(z: np.ndarray | float) -> np.ndarray:
    """Centre (y, mm) of the vertebral bodies at height z: cervical lordosis, then the thoracic
    spine moving back."""
    z = np.asarray(z, float)
    return np.clip(25.0 + 6.0 * ((z + 30.0) / 60.0) ** 2, 0, 62)


#: Vertebral body centres (z, mm): C2 to C7 every 17 mm, the thoracic ones every 20 mm.
VERTEBRAE_Z = np.concatenate([10.0 - 17.0 * np.arange(6), -93.0 - 20.0 * np.arange(9)])


def _vertebra(z: float, k: int) -> Pieces:
    """Body with cortex and marrow, arch, spinous and transverse processes of one vertebra."""
    thoracic = k >= 6
    y = float(spine_y(z))
    half = (13.0 if thoracic else 9.0, 11.0 if thoracic else 8.0, 8.0 if thoracic else 6.0)
    canal_y = y + half[1] + 8.0
    spinous = 28.0 if thoracic else 18.0
    body = tube([(0, y, z - half[2]), (0, y, z + half[2])], half[:2], flat=True)
    core = tube([(0, y, z - half[2] + 1.2), (0, y, z + half[2] - 1.2)],
                (half[0] - 1.5, half[1] - 1.5), flat=True)
    return [
        ("cortical_bone", ellipsoid((0, canal_y + 1, z), (16, 13, 5.5))),
        ("cortical_bone", tube([(0, canal_y + 8, z), (0, canal_y + spinous, z - 8)],
                               (2.5, 4.0))),
        ("cortical_bone", tube([(-24, y + 8, z), (24, y + 8, z)], (3.0, 3.0))),
        ("cortical_bone", body), ("marrow", core),
    ]


def _spine() -> Pieces:
    """Discs, the atlas and dens, vertebrae C2-T9, the canal with CSF and the spinal cord."""
    zs = np.array([26.0, 14.0, *np.arange(0.0, -440.0, -20.0)])
    path = np.column_stack([np.zeros(len(zs)), spine_y(zs), zs])
    thoracic = zs < -85
    canal = path.copy()
    canal[:, 1] += np.where(thoracic, 19.0, 16.0)
    disc_radii = np.where(thoracic[:, None], [13.5, 11.5], [9.5, 8.5])
    dens_y = float(spine_y(14.0))
    pieces: Pieces = [
        ("disc", tube(path[2:], disc_radii[2:])),
        ("cortical_bone", tube([(-20, dens_y + 5, 24), (0, dens_y - 10, 24),
                                (20, dens_y + 5, 24)], (3.5, 5.0))),
        ("cortical_bone", tube([(-20, dens_y + 5, 24), (0, dens_y + 33, 24),
                                (20, dens_y + 5, 24)], (3.0, 4.0))),
        *_pair("cortical_bone", lambda s: ellipsoid((s * 20, dens_y + 4, 24), (7, 9, 7))),
        ("cortical_bone", tube([(0, dens_y, 14), (0, dens_y - 1, 31)], 5.5)),
    ]
    for k, z in enumerate(VERTEBRAE_Z):
        pieces += _vertebra(float(z), k)
    pieces += [("csf", tube(canal, np.where(thoracic[:, None], [9.0, 8.0], [10.0, 8.0]))),
               ("spinal_cord", tube(canal, [(6.0, 4.5)] * len(zs)))]
    return pieces


#: Height (mm) of the skull base under the brain along y: anterior cranial fossa (orbital
#: roofs), the sella and clivus, the posterior fossa down to the foramen magnum.
SKULL_BASE = (np.array([-100.0, -35.0, -15.0, 20.0, 30.0, 100.0]),
              np.array([68.0, 64.0, 46.0, 34.0, 30.0, 30.0]))


def _above_skull_base(offset: float) -> Above:
    return Above(SKULL_BASE[0], SKULL_BASE[1] + offset)


def _skull() -> Pieces:
    """Skull with diploe down to the skull base, CSF, the brain (grey and white matter, deep
    grey nuclei, ventricles, cerebellum, brainstem), clivus, petrous bones, sphenoid sinus."""
    def cranium(shrink: float, floor: float) -> Shape:
        return Intersection((Union((
            ellipsoid((0, 12, 92), (72 - shrink, 90 - shrink, 66 - shrink)),
            ellipsoid((0, 46, 58), (56 - shrink, 44 - shrink, 32 - shrink)))),
            _above_skull_base(floor)))

    def brain(center: tuple, axes: tuple) -> Shape:
        return Intersection((ellipsoid(center, axes), _above_skull_base(1.0)))

    return [
        ("cortical_bone", cranium(0.0, -8.0)), ("diploe", cranium(2.5, -5.5)),
        ("cortical_bone", cranium(5.0, -3.0)), ("csf", cranium(7.0, -1.0)),
        ("brain_grey", brain((0, 12, 92), (63, 81, 57))),
        ("brain_white", brain((0, 12, 95), (53, 70, 46))),
        ("deep_grey", Union((ellipsoid((-15, 12, 88), (9, 15, 10)),
                             ellipsoid((15, 12, 88), (9, 15, 10))))),
        ("csf", Union((ellipsoid((-9, 18, 100), (4.5, 24, 8)),
                       ellipsoid((9, 18, 100), (4.5, 24, 8))))),
        ("cerebellum", brain((0, 48, 59), (47, 35, 23))),
        ("brainstem", tube([(0, float(spine_y(14.0)) + 16, 14), (0, 42, 32), (0, 30, 52),
                            (0, 20, 78)], [(7.0, 7.0), (8.0, 8.0), (10.0, 10.0), (10.0, 10.0)])),
        ("cortical_bone", tube([(0, 4, 58), (0, 20, 34)], (9.0, 6.0))),
        ("cortical_bone", Union((ellipsoid((-42, 24, 38), (17, 11, 9), (0, 0, 40)),
                                 ellipsoid((42, 24, 38), (17, 11, 9), (0, 0, -40))))),
        ("cortical_bone", ellipsoid((0, -10, 50), (16, 16, 12))),
        ("air", ellipsoid((0, -10, 50), (12.5, 12.5, 8.5))),
    ]


def _face() -> Pieces:
    """Orbits (walls, fat, globes, extraocular muscles), maxillary sinuses, nasal cavity with
    its septum, zygomatic arches, maxilla and hard palate."""
    pieces: Pieces = []
    pieces += _pair("cortical_bone", lambda s: ellipsoid((s * 31, -44, 64), (20, 24, 18)))
    pieces += _pair("fat", lambda s: ellipsoid((s * 31, -47, 64), (17, 22, 15)))
    pieces += _pair("eye", lambda s: ellipsoid((s * 32, -68, 64), (12, 12, 12)))
    for dx, dz in ((-9, 0), (9, 0), (0, -9), (0, 9)):
        pieces += _pair("extraocular", lambda s, dx=dx, dz=dz: tube(
            [(s * (32 + dx), -60, 64 + dz), (s * 16, -30, 60)], 2.6))
    pieces += _pair("cortical_bone", lambda s: ellipsoid((s * 25, -50, 40), (20, 22, 18)))
    pieces += _pair("air", lambda s: ellipsoid((s * 25, -50, 41), (14.5, 16.5, 13.0)))
    pieces += [("cortical_bone", ellipsoid((0, -50, 27), (26, 32, 3.5))),
               ("air", ellipsoid((0, -44, 42), (9, 34, 16))),
               ("cartilage", Box3(np.array([-1.2, -80, 28]), np.array([1.2, -12, 56])))]
    pieces += _pair("cortical_bone", lambda s: tube([(s * 48, -48, 46), (s * 62, -10, 40),
                                                     (s * 56, 10, 38)], 4.0))
    return pieces


def _arch_points(arch: int) -> np.ndarray:
    """Centres (mm) of the 14 tooth positions of the upper (0) or lower (1) dental arch."""
    angles = np.deg2rad(TOOTH_ANGLES)
    width, depth, z = (27.0, 38.0, UPPER_ARCH_Z) if arch == 0 else (25.0, 35.0, LOWER_ARCH_Z)
    return np.column_stack([width * np.sin(angles), -40.0 - depth * np.cos(angles),
                            np.full(14, z)])


def filling_centers(params: AnatomyParams) -> np.ndarray:
    """Centres (mm, anatomical frame) of the metal fillings, at the teeth's biting surfaces."""
    rows = [_arch_points(arch)[tooth] + np.array([0.0, 0.0, -3.0 if arch == 0 else 3.0])
            for arch, tooth, _ in params.fillings]
    return np.array(rows).reshape(-1, 3)


def _oral(params: AnatomyParams) -> Pieces:
    """Mandible (cortex, marrow), alveolar ridge, tongue, floor of the mouth and oral air."""
    body = [(-46, 0, -4), (-42, -30, -6), (-28, -62, -8), (0, -76, -10), (28, -62, -8),
            (42, -30, -6), (46, 0, -4)]
    pieces: Pieces = []
    for tissue, shrink in (("cortical_bone", 0.0), ("marrow", 2.5)):
        pieces.append((tissue, tube(body, [(5.5 - shrink, 12.5 - shrink)] * 7)))
        pieces += _pair(tissue, lambda s, d=shrink: tube(
            [(s * 46, 0, -4), (s * 48, 6, 20), (s * 50, 12, 36)],
            [(4.2 - d * 0.6, 12 - d), (4.2 - d * 0.6, 11 - d), (5.5 - d, 6 - d)]))
    upper = _arch_points(0) + np.array([0.0, 0.0, 5.0])
    pieces.append(("cortical_bone", tube(upper, [(6.0, 6.0)] * 14)))
    pieces.append(("tongue", ellipsoid((0, -38, 7), (24, 34, 14))))
    pieces += _pair("sublingual", lambda s: ellipsoid((s * 12, -55, -5), (5, 12, 5)))
    if params.oral_air:
        pieces.append(("air", ellipsoid((0, -48, 22.0), (17, 26, 1.8))))
    return pieces


def _teeth_and_metal(params: AnatomyParams) -> Pieces:
    """Teeth present (crowns) and the metal fillings."""
    pieces: Pieces = []
    for arch in (0, 1):
        for k, center in enumerate(_arch_points(arch)):
            if params.teeth[arch][k]:
                pieces.append(("tooth", ellipsoid(center, (2.8, 3.2, 4.5))))
    for center, (_, _, radius) in zip(filling_centers(params), params.fillings, strict=True):
        pieces.append(("metal", ellipsoid(center, (radius, radius, radius * 0.8))))
    return pieces


def _glands() -> Pieces:
    """Parotid and submandibular glands, thyroid."""
    return [
        *_pair("parotid", lambda s: ellipsoid((s * 45, 8, 22), (13, 18, 20))),
        *_pair("submandibular", lambda s: ellipsoid((s * 30, -28, -10), (11, 10, 9))),
        *_pair("thyroid", lambda s: ellipsoid((s * 17, -14, -80), (8, 9, 20))),
        ("thyroid", ellipsoid((0, -24, -84), (9, 4, 5))),
    ]


def _with_fascia(pieces: Pieces, fascia_mm: float = 1.5) -> Pieces:
    """Each muscle after a fat sheath a little larger than itself: the fat planes that set
    muscles apart on CT."""
    sheathed: Pieces = []
    for name, shape in pieces:
        sheathed.append(("fat", _grown(shape, fascia_mm)))
        sheathed.append((name, shape))
    return sheathed


def _grown(shape: Shape, mm: float) -> Shape:
    """``shape`` grown by ``mm`` (tubes and ellipsoids, and unions of them)."""
    if isinstance(shape, Union):
        return Union(tuple(_grown(member, mm) for member in shape.members))
    if isinstance(shape, Tube):
        return Tube(shape.path, shape.radii + mm, shape.flat)
    if isinstance(shape, Ellipsoid):
        return Ellipsoid(shape.center, shape.axes + mm, shape.rotation)
    raise TypeError(f"cannot grow a {type(shape).__name__}")


def _muscles() -> Pieces:
    """Neck and masticator muscles (the groups that can be active), in their fat planes."""
    return _with_fascia([
        *_pair("muscle_scm", lambda s: tube(
            [(s * 52, 28, 28), (s * 46, 8, -20), (s * 30, -25, -80), (s * 20, -42, -110)],
            [(6, 9), (7, 11), (6, 10), (5, 7)])),
        *_pair("muscle_trapezius", lambda s: tube(
            [(s * 15, 66, 20), (s * 30, 60, -60), (s * 80, 52, -110)], (14.0, 4.5))),
        *_pair("muscle_scalene", lambda s: tube(
            [(s * 26, 24, -20), (s * 34, 14, -70), (s * 42, 6, -116)], 6.0)),
        *_pair("muscle", lambda s: tube(
            [(s * 9, -33, -20), (s * 12, -30, -70), (s * 14, -40, -112)], (5.0, 3.0))),
        *_pair("muscle_longus", lambda s: tube(
            [(s * 8, 12, 34), (s * 8, 10, -40), (s * 9, 12, -92)], (4.5, 3.0))),
        *_pair("muscle_masticator", lambda s: ellipsoid((s * 57, -20, 12), (6, 14, 20),
                                                        (0, s * 10, 0))),
        *_pair("muscle_masticator", lambda s: ellipsoid((s * 36, -10, 18), (6, 12, 16),
                                                        (0, s * 20, 0))),
        *_pair("muscle_masticator", lambda s: ellipsoid((s * 38, -4, 34), (7, 10, 6))),
    ])


def _vessels() -> Pieces:
    """Common, internal and external carotid arteries; internal jugular veins (the right one
    larger); subclavian vessels."""
    def jugular(side: int) -> Shape:
        scale = 1.2 if side < 0 else 1.0
        return tube([(side * 18, 5, -125), (side * 33, 13, -70), (side * 37, 16, -15),
                     (side * 39, 24, 26)], [(6 * scale, 5 * scale), (7 * scale, 6 * scale),
                                            (6.5 * scale, 6 * scale), (5 * scale, 5 * scale)])

    return [
        *_pair("blood", lambda s: tube([(s * 20, 5, -125), (s * 24, 8, -70), (s * 27, 8, -18)],
                                       3.9)),
        *_pair("blood", lambda s: tube([(s * 27, 8, -18), (s * 28, 14, 10), (s * 24, 20, 34)],
                                       3.0)),
        *_pair("blood", lambda s: tube([(s * 27, 8, -18), (s * 29, 0, 5), (s * 36, 5, 28)],
                                       2.3)),
        ("blood", Union((jugular(-1), jugular(1)))),
        *_pair("blood", lambda s: tube([(s * 20, 2, -124), (s * 60, 8, -126),
                                        (s * 110, 14, -122)], 5.5)),
    ]


def _airway_path(params: AnatomyParams) -> tuple[np.ndarray, np.ndarray]:
    """Centre line (mm) and radii (x, y in mm) of the airway from the nasopharynx down: the
    oropharynx wide side to side, the glottis a slit, the trachea round; per patient a little
    wider or narrower, and irregular along z."""
    table = np.array([
        # x   y     z     rx    ry
        [0, -6, 38, 12.0, 8.0],
        [0, -3, 28, 12.0, 6.5],
        [0, 0, 16, 13.0, 7.0],
        [0, -1, 4, 13.0, 6.0],
        [0, -4, -8, 14.0, 5.5],
        [0, -14, -20, 9.0, 8.0],
        [0, -20, -32, 7.0, 8.0],
        [0, -22, -40, 2.0, 8.0],
        [0, -20, -48, 7.0, 7.0],
        [0, -16, -65, 8.0, 8.0],
        [0, -8, -120, 9.0, 9.0],
        [0, 6, -200, 9.0, 9.0],
        [0, 12, -440, 9.0, 9.0],
    ])
    radii = table[:, 3:] * params.airway_scale
    radii[:-1] *= np.asarray(params.airway_jitter)[:, None]
    return table[:, :3], np.clip(radii, 1.5, None)


def _pharynx(params: AnatomyParams) -> Pieces:
    """Constrictors, Waldeyer's ring (adenoid, palatine and lingual tonsils), soft palate,
    the airway lumen (carving what it crosses), piriform sinuses and the esophagus."""
    path, radii = _airway_path(params)
    size = params.tonsil_size
    pieces: Pieces = [
        ("constrictor", tube(path[:6], radii[:6] + 4.0)),
        ("esophagus", tube([(0, 6, -45), (-2, 4, -80), (-3, 8, -130), (-4, 22, -440)],
                           [(8, 5)] * 4)),
        ("adenoid", ellipsoid((0, 5, 40), (12 * size, 5 * size, 7 * size))),
        ("soft_palate", ellipsoid((0, -17, 21), (14, 12, 3.5), (40, 0, 0))),
        ("palatine_tonsil_right", ellipsoid((-18, -2, 14), (7 * size, 10 * size, 13 * size))),
        ("palatine_tonsil_left", ellipsoid((18, -2, 14), (7 * size, 10 * size, 13 * size))),
        ("lingual_tonsil", ellipsoid((0, -11, 3), (14 * size, 6 * size, 7 * size))),
        ("air", ellipsoid((0, -8, 38), (12.0 * params.airway_scale, 9.0, 9.0))),
        ("air", tube(path, radii)),
    ]
    for side, present in zip((-1, 1), params.piriform_air, strict=True):
        if present:
            pieces.append(("air", ellipsoid((side * 13, -2, -30), (4, 6, 10))))
    return pieces


def _larynx(params: AnatomyParams) -> Pieces:
    """Hyoid, thyroid and cricoid cartilages, tracheal wall and the vocal cords."""
    path, radii = _airway_path(params)
    ring = [(11 * np.cos(a), -18 + 11 * np.sin(a), -50) for a in np.linspace(0, 2 * np.pi, 9)]
    return [
        ("cortical_bone", tube([(-20, -8, -12), (-14, -28, -13), (0, -36, -14),
                                (14, -28, -13), (20, -8, -12)], (2.5, 3.0))),
        ("cartilage", tube([(-22, -14, -30), (0, -38, -30), (22, -14, -30)], (1.8, 12.0))),
        ("cartilage", tube(ring, (2.0, 5.0))),
        ("tracheal_wall", tube(path[8:], radii[8:] + 2.0)),
        ("air", tube(path[8:], radii[8:])),
        ("vocal_cords", Union((ellipsoid((-5.5, -22, -40), (3.0, 8.0, 2.5)),
                               ellipsoid((5.5, -22, -40), (3.0, 8.0, 2.5))))),
    ]


def couch_y(params: AnatomyParams) -> float:
    """Front surface (y, mm, scanner frame) of the couch under the patient."""
    return 22 + 95 + params.neck_fat_mm * 1.5 + 6


def model_parameters() -> dict[str, object]:
    """The phantom's prevalences and default tissue values, for ``parameters.json``."""
    return {
        "p_dental_metal": P_METAL, "p_brown_fat": P_BROWN_FAT,
        "p_vocal_cord_uptake": P_TALKING, "p_active_muscle": MUSCLE_GROUPS,
        "tissues": {t.name: {"hu": t.hu, "suv": t.suv, "kind": t.kind} for t in TISSUES},
        "flexion_pivot_mm": FLEXION_PIVOT.tolist(), "oropharynx_mm": OROPHARYNX.tolist(),
    }


def primary_sites() -> dict[str, np.ndarray]:
    """Where oropharyngeal primaries grow (centre offsets, mm) by subsite: tonsil (given as
    the right one; mirrored for the left), base of tongue, soft palate, posterior wall."""
    return {"tonsil": np.array([-17.0, -2.0, 13.0]),
            "base_of_tongue": np.array([0.0, -13.0, 3.0]),
            "soft_palate": np.array([0.0, -17.0, 22.0]),
            "posterior_wall": np.array([0.0, 9.0, 8.0])}
