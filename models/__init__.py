"""Model specification files shipped as package data (radiomics_hnc.model_specs)."""
