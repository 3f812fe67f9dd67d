"""Content moderation: a local rule-based moderator and an upstream moderation model."""
