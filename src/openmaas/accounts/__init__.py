"""Accounts: registration with a one-time code, console login, profiles and tiers, API keys,
real-name verification and its review. Wired together by `wiring.build_account_services`."""
