"""Planning models: the predictron."""
