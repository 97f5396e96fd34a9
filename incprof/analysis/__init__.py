"""Analyzers: each returns a plain result object and never prints."""
