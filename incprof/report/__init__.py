"""Formatting: tables, Markdown reports and plots. Nothing here computes a metric."""
