"""Chat completions: request validation against the model, generation, usage."""
