"""Layers that several model families share, one mechanism per file."""
