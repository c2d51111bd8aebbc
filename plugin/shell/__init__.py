"""The QGIS plugin shell: registers the Processing provider (QGIS glue only)."""
