"""OpenMaaS: a self-hosted model-as-a-service platform (Zhipu v4 + OpenAI wire compatible)."""

__version__ = "0.1.0"
