"""Data and helpers for the reliability, security, fuzz and schema tests."""
