"""Optimization toggles: plugins that users switch on by name."""
