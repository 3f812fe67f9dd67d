"""The agent-era surfaces (OpenAI Responses, Anthropic Messages, assistants, MCP tools), all
translated onto the one chat core (`ChatService.open_run`)."""
