"""Jinja2 templates and styles of the HTML report (package ``radiomics_hnc.report_templates``).

This file makes the folder a regular package so ``importlib.resources`` finds it in editable
installs too (setuptools' editable finder does not resolve mapped namespace packages).
"""
