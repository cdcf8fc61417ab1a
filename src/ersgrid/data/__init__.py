"""Data layer: importers of files (events, prices, weather, history) with line-named errors."""
