"""HTTP surfaces: thin routers per resource, Zhipu (/api/paas/v4) and OpenAI (/v1)."""
