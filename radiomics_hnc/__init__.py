"""radiomics-hnc: head and neck cancer PET/CT radiomics, from HECKTOR data to clinical reports.

Each stage is a module with plain functions; the ``radiomics-hnc`` command line is a thin
layer over them. See the README for the data flow and the workspace files each stage writes.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("radiomics-hnc")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
