"""Memory models: addressing primitives, dense NTM/DNC, SAM, SDNC, MERLIN's memory."""
