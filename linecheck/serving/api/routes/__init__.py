"""HTTP routes: a few lines each, the rules live in ``linecheck.serving.api.services``."""
