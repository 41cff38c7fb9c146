"""Packaged PyRadiomics parameter files (ct.yaml, pet.yaml, dose.yaml); see README.md."""
