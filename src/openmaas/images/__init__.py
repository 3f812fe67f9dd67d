"""Text-to-image: the image model catalog, generation with per-image billing, PNG storage."""
