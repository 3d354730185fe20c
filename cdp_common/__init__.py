"""Helpers shared by both plugins: secret redaction and one-line configuration errors."""
