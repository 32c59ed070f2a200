"""The catalogue API: Flexprice-compatible catalogue endpoints and the costsheet search."""
