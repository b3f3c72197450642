"""Runs and fused events as flat tables an analyst opens: CSV, Parquet, Excel, SQLite, DuckDB."""
