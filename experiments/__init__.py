"""The wiring layer: configs into running experiments (validation, training loops, evaluation, launch)."""
