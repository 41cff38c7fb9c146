"""DICOM PET/CT, RTSTRUCT and RTDOSE exports to a dataset in the HECKTOR 2025 layout."""

from radiomics_hnc.dicom.importer import ImportResult, import_dicom
from radiomics_hnc.dicom.rtstruct import DEFAULT_ROI_MAP, RoiMap
from radiomics_hnc.dicom.suv import NORMALISATIONS, SUVConversion, suv_conversion

__all__ = ["DEFAULT_ROI_MAP", "NORMALISATIONS", "ImportResult", "RoiMap", "SUVConversion",
           "import_dicom", "suv_conversion"]
