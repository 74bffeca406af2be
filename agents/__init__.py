"""Agents: one folder per agent family, plus the networks they share."""
