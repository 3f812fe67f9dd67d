"""Metrics (Prometheus), structured JSON logs with request ids."""
