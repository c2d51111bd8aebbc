"""One QgsProcessingAlgorithm subclass per module; the provider discovers them."""
