"""Authentication: API keys (`id.secret`), the Zhipu JWT, and the principal they yield."""
