"""Matching: the analyzer, the full-text index and relevance ranking."""
