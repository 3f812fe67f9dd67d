"""Knowledge bases: parse → chunk → embed → index; hybrid retrieval, rerank, traces."""
