"""Environments: JAX-native (pure reset/step) and host adapters."""
