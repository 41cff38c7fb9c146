"""Files shipped inside the package: model specifications, feature settings, report templates."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from radiomics_hnc.errors import ConfigError

#: Shipped model specifications that ``radiomics-hnc run`` fits by default (the clinical-only
#: models are the baselines; rfs_mtv_clinical the pre-specified imaging comparator).
DEFAULT_RFS_SPECS = ("rfs_clinical_cox", "rfs_mtv_clinical", "rfs_coxnet", "rfs_gbsa",
                     "rfs_xgb_cox")
DEFAULT_HPV_SPECS = ("hpv_clinical_logistic", "hpv_lesion_pattern", "hpv_elasticnet", "hpv_xgb")

#: Minutes of CPU training the demo gives its segmenter: on a 2-core machine running at half
#: speed that is the 4 minutes in which ``seg_unet_demo`` reached held-out DSCagg mean 0.700
#: (``benchmarks/results/segment_demo_budget.json``); in 2 minutes it reached only 0.488.
DEMO_SEGMENTER_MINUTES = 8.0


def model_spec_path(name_or_path: str | Path) -> Path:
    """A model specification file: an existing path as given, else a spec shipped in ``models/``.

    ``"rfs_coxnet"``, ``"rfs_coxnet.yaml"`` and ``"models/rfs_coxnet.yaml"`` all find the shipped
    file from any working directory, so commands and notebooks work from an installed wheel.
    """
    candidate = Path(name_or_path)
    if candidate.is_file():
        return candidate
    shipped = Path(str(files("radiomics_hnc.model_specs").joinpath(f"{candidate.stem}.yaml")))
    if candidate.suffix not in ("", ".yaml", ".yml") or not shipped.is_file():
        raise ConfigError(f"no model specification {str(name_or_path)!r}",
                          hint="pass a YAML file or the name of a spec in models/")
    return shipped
