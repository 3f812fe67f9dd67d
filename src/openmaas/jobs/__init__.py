"""Durable jobs: a job table with leases, and a worker loop that runs them."""
