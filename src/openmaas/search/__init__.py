"""Web search providers for the chat `web_search` tool."""
