"""Readers of real formats, bundled and synthetic domains, splits, and the Parquet store."""
