"""Actor-critic agent with the IMPALA/V-trace loss (feed-forward or LSTM)."""
