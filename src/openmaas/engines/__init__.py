"""Model engines behind small protocols. Only this package imports llama_cpp."""
