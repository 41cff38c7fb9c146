"""PyRadiomics parameter sets per modality: packaged defaults, a user's file, call overrides.

Settings are layered like PyRadiomics itself (defaults, then file, then call) and every merged
set is validated with PyRadiomics' own schema, so a typo fails here, before any patient runs.
The content hash of the merged sets goes into every feature table's provenance and into the
per-patient cache fingerprint.
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
_UNSUPPORTED_SETTINGS = {
    "normalize": "it standardises over the whole image, so values would depend on the field of "
    "view; remove it (CT and SUV are calibrated units)",
}


def default_config_path(name: str) -> Path:
    """Path of the packaged parameter file ``<name>.yaml`` (name: ct, pet or dose)."""
    return Path(str(files("radiomics_hnc.feature_configs").joinpath(f"{name}.yaml")))


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
        if section == "setting" and isinstance(value, Mapping):
            merged.setdefault("setting", {}).update(copy.deepcopy(dict(value)))
        else:
            merged[section] = copy.deepcopy(value)
    return merged


def validate_params(params: Mapping[str, Any], source: str | Path | None = None) -> None:
    """Validate a parameter dict with PyRadiomics' own schema; raise :class:`ConfigError`."""
    from pykwalify.errors import PyKwalifyException
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    try:
        RadiomicsFeatureExtractor(copy.deepcopy(dict(params)))
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
        """Parameters of one modality (``ct``, ``pet`` or ``dose``), as a fresh copy."""
        return copy.deepcopy(getattr(self, name))

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
        A user's PyRadiomics YAML file per modality; ``None`` keeps the packaged default.
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
        params = load_params(default_config_path(name))
        source = files_given[name]
        if source is not None:
            params = merge_params(params, load_params(source))
        if filters and name != "dose":
            params["imageType"] = {**params.get("imageType", {}), **FILTER_IMAGE_TYPES}
        params = merge_params(params, (overrides or {}).get(name, {}))
        validate_params(params, source)
        merged[name] = params
        sources[name] = str(source) if source is not None else f"default:{name}.yaml"
    return FeatureConfigs(ct=merged["ct"], pet=merged["pet"], dose=merged["dose"], sources=sources)
