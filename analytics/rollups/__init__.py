"""Hourly rollups of usage per meter: their tables, their upkeep, and the partials they answer."""
