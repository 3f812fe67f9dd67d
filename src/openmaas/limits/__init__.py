"""Admission control: concurrency per account and model, RPM/TPM per key."""
