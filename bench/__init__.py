"""The benchmark: a reproducible data set, HTTP ingestion, and metering latency vs DuckDB."""
