"""One module per lab experiment; each defines ``EXPERIMENT`` (an Experiment instance)."""
