"""Experiment configs: one file per family, ``get_config(arg)`` with named variants."""
