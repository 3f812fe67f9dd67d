"""Platform management API (accounts, keys, billing, admin) under /api/platform."""
