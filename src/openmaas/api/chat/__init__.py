"""Chat completions on both surfaces: wire schemas, SSE framing, routers."""
