"""PyRadiomics parameter sets per modality: packaged defaults, a user's file, call overrides.

Settings are layered like PyRadiomics itself (defaults, then file, then call) and every merged
set is validated with PyRadiomics' own schema, so a typo fails here, before any patient runs.
The content hash of the merged sets goes into every feature table's provenance and into the
per-patient cache fingerprint.

A parameter file may hold one section PyRadiomics does not know, ``resampling`` (see
:class:`ResamplingOptions`): how radiomics-hnc resamples image and mask before PyRadiomics
computes the features. It is validated here and never handed to PyRadiomics.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from radiomics_hnc.errors import ConfigError
from radiomics_hnc.io import text_sha256

#: Modality tokens used in column names, keyed by the config name.
MODALITIES = {"ct": "CT", "pet": "PT", "dose": "RTDOSE"}
#: Filtered image types added by ``filters=True`` (off by default, see feature_configs/ct.yaml).
FILTER_IMAGE_TYPES: dict[str, dict[str, Any]] = {"LoG": {"sigma": [1.0, 2.0, 3.0]}, "Wavelet": {}}
#: radiomics-hnc's own section of a parameter file (see :class:`ResamplingOptions`).
RESAMPLING_SECTION = "resampling"
#: Sections merged key by key when files are layered (the others are replaced whole).
_MERGED_SECTIONS = ("setting", RESAMPLING_SECTION)
#: Resampling grids: PyRadiomics' own, or IBSI's (see :class:`ResamplingOptions`).
RESAMPLING_GRIDS = ("pyradiomics", "ibsi")
_UNSUPPORTED_SETTINGS = {
    "normalize": "it standardises over the whole image, so values would depend on the field of "
    "view; remove it (CT and SUV are calibrated units)",
}


def default_config_path(name: str) -> Path:
    """Path of the packaged parameter file ``<name>.yaml`` (ct, pet, dose, ct_ibsi, pet_ibsi)."""
    return Path(str(files("radiomics_hnc.feature_configs").joinpath(f"{name}.yaml")))


def packaged_config_names() -> list[str]:
    """Names of the packaged parameter files, usable in place of a path (``ct_ibsi``)."""
    folder = files("radiomics_hnc.feature_configs")
    return sorted(entry.name[: -len(".yaml")] for entry in folder.iterdir()
                  if entry.name.endswith(".yaml"))


@dataclass(frozen=True)
class ResamplingOptions:
    """How radiomics-hnc resamples a lesion's image and mask (a file's ``resampling`` section).

    PyRadiomics has no setting for these; its own resampling is not the one IBSI defines
    (docs/ibsi.md measures the difference on the IBSI CT phantom).

    Attributes
    ----------
    grid
        ``pyradiomics`` (default): PyRadiomics' grid, aligned to the corner of the mask's
        bounding box, and a nearest-neighbour mask, so the values equal PyRadiomics' own.
        ``ibsi``: IBSI's "align grid centres" grid over the whole image (size
        ``ceil(n * spacing / new spacing)`` per axis), the mask interpolated trilinearly and
        kept where at least half inside (partial-volume threshold 0.5).
    round_intensities
        Round interpolated intensities to the nearest integer, as IBSI does for CT (HU).
    """

    grid: str = "pyradiomics"
    round_intensities: bool = False

    @classmethod
    def from_section(cls, section: Any, source: str | Path | None = None) -> ResamplingOptions:
        """Options from a parameter file's ``resampling`` mapping (absent: the defaults)."""
        if section is None:
            return cls()
        if not isinstance(section, Mapping):
            raise ConfigError(f"section {RESAMPLING_SECTION!r} must be a mapping", path=source,
                              hint="e.g. resampling: {grid: ibsi, round_intensities: true}")
        unknown = set(section) - {"grid", "round_intensities"}
        if unknown:
            raise ConfigError(f"unknown keys in section {RESAMPLING_SECTION!r}: "
                              f"{sorted(unknown)}", path=source,
                              hint="allowed: grid, round_intensities")
        options = cls(**dict(section))
        if options.grid not in RESAMPLING_GRIDS:
            raise ConfigError(f"resampling grid {options.grid!r} is not one of "
                              f"{list(RESAMPLING_GRIDS)}", path=source)
        if type(options.round_intensities) is not bool:
            raise ConfigError("resampling round_intensities must be true or false, found "
                              f"{options.round_intensities!r}", path=source)
        return options


def load_params(path: str | Path) -> dict[str, Any]:
    """Read a PyRadiomics YAML parameter file into a dict (no validation)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read parameter file ({exc})", path=path) from exc
    if not isinstance(data, dict):
        raise ConfigError("parameter file is not a YAML mapping", path=path)
    return data


def merge_params(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Layer ``override`` onto ``base``: sections (setting, imageType, ...) merge key by key.

    ``featureClass`` and ``imageType`` given in ``override`` replace those of ``base`` whole,
    since listing classes means "exactly these" in PyRadiomics.
    """
    merged = copy.deepcopy(dict(base))
    for section, value in override.items():
        if section in _MERGED_SECTIONS and isinstance(value, Mapping):
            merged.setdefault(section, {}).update(copy.deepcopy(dict(value)))
        else:
            merged[section] = copy.deepcopy(value)
    return merged


def pyradiomics_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a parameter dict that PyRadiomics reads (without ``resampling``)."""
    return {k: copy.deepcopy(v) for k, v in params.items() if k != RESAMPLING_SECTION}


def validate_params(params: Mapping[str, Any], source: str | Path | None = None) -> None:
    """Validate a parameter dict with PyRadiomics' own schema (and its ``resampling``
    section with :class:`ResamplingOptions`); raise :class:`ConfigError`."""
    from pykwalify.errors import PyKwalifyException
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    ResamplingOptions.from_section(params.get(RESAMPLING_SECTION), source)
    try:
        RadiomicsFeatureExtractor(pyradiomics_params(params))
    except (PyKwalifyException, ValueError, TypeError) as exc:
        message = " ".join(str(getattr(exc, "msg", None) or exc or type(exc).__name__).split())
        raise ConfigError(
            f"invalid PyRadiomics parameters: {message}", path=source,
            hint="see https://pyradiomics.readthedocs.io/en/latest/customization.html",
        ) from exc
    for key, why in _UNSUPPORTED_SETTINGS.items():
        if (params.get("setting") or {}).get(key):
            raise ConfigError(f"setting {key!r} is not supported: {why}", path=source)


@dataclass(frozen=True)
class FeatureConfigs:
    """Validated PyRadiomics parameters for CT, PET and dose, with their sources and hash."""

    ct: dict[str, Any]
    pet: dict[str, Any]
    dose: dict[str, Any]
    sources: dict[str, str]

    def params(self, name: str) -> dict[str, Any]:
        """PyRadiomics parameters of one modality (``ct``, ``pet`` or ``dose``), a fresh copy
        that ``RadiomicsFeatureExtractor`` accepts (the ``resampling`` section left out)."""
        return pyradiomics_params(getattr(self, name))

    def settings(self, name: str) -> dict[str, Any]:
        """All merged settings of one modality, ``resampling`` included, as a fresh copy."""
        return copy.deepcopy(getattr(self, name))

    def settings_record(self) -> dict[str, dict[str, Any]]:
        """Every modality's merged settings (for the feature tables' provenance)."""
        return {name: self.settings(name) for name in MODALITIES}

    @property
    def content_hash(self) -> str:
        """SHA-256 of the merged parameters (key order independent): the provenance hash."""
        payload = {name: getattr(self, name) for name in MODALITIES}
        return text_sha256(json.dumps(payload, sort_keys=True, default=str))

    @property
    def modality_hashes(self) -> dict[str, str]:
        """SHA-256 of each modality's merged parameters (which of them changed between runs)."""
        return {name: text_sha256(json.dumps(getattr(self, name), sort_keys=True, default=str))
                for name in MODALITIES}


def load_feature_configs(
    ct: str | Path | None = None,
    pet: str | Path | None = None,
    dose: str | Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    filters: bool = False,
) -> FeatureConfigs:
    """Build the three parameter sets: packaged default, then the user's file, then overrides.

    Parameters
    ----------
    ct, pet, dose
        A user's PyRadiomics YAML file per modality, layered over the packaged default; or the
        name of a packaged file used instead of the default (``ct_ibsi``, ``pet_ibsi``, see
        :func:`packaged_config_names`); ``None`` keeps the packaged default.
    overrides
        Per-modality dicts layered last, e.g. ``{"ct": {"setting": {"binWidth": 10}}}``.
    filters
        Add the LoG (sigma 1, 2, 3 mm) and wavelet image types to CT and PET.
    """
    files_given = {"ct": ct, "pet": pet, "dose": dose}
    unknown = set(overrides or {}) - set(MODALITIES)
    if unknown:
        raise ConfigError(f"unknown modality in overrides: {sorted(unknown)}",
                          hint=f"use {sorted(MODALITIES)}")
    merged: dict[str, dict[str, Any]] = {}
    sources: dict[str, str] = {}
    for name in MODALITIES:
        source = files_given[name]
        params, sources[name] = _base_params(name, source)
        if filters and name != "dose":
            params["imageType"] = {**params.get("imageType", {}), **FILTER_IMAGE_TYPES}
        params = merge_params(params, (overrides or {}).get(name, {}))
        validate_params(params, source)
        merged[name] = params
    return FeatureConfigs(ct=merged["ct"], pet=merged["pet"], dose=merged["dose"], sources=sources)


def _base_params(name: str, source: str | Path | None) -> tuple[dict[str, Any], str]:
    """A modality's parameters before overrides, and how provenance names their source.

    A packaged name (``ct_ibsi``) replaces the default: a packaged file is complete, and
    layering it over ``ct.yaml`` would keep settings it leaves out on purpose.
    """
    default = load_params(default_config_path(name))
    if source is None:
        return default, f"default:{name}.yaml"
    if not Path(source).exists():
        packaged = [n for n in packaged_config_names() if n.split("_")[0] == name]
        if str(source) in packaged:
            return load_params(default_config_path(str(source))), f"packaged:{source}.yaml"
        raise ConfigError(f"{name} parameter file not found", path=source,
                          hint=f"give a YAML file or a packaged name: {', '.join(packaged)}")
    return merge_params(default, load_params(source)), str(source)
