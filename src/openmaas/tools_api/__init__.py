"""The platform's standalone tool endpoints: tokenizer, rerank, web search, moderation,
file parsing with OCR, audio. Each service here is called by one thin router in
`api/tool_endpoints/` and charged through `metering.metered`."""
