"""Text embeddings: engines behind one protocol, a dynamic batcher per engine, the service."""
