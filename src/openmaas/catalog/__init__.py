"""The model catalog: public names and aliases → engine, context window, capabilities."""
