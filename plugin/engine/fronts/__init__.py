"""Calving fronts: subsets, CALFIN layering, fjord masks, front extraction and metrics."""
