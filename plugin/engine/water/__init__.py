"""Surface water: water stacks, HAND, water-model choice, polygons, metrics and training chips."""
