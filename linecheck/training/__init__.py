"""Training, evaluation, export and the on-disk model registry."""
