"""Usage records now; pricing, the ledger, packs and bills build on them."""
