"""Model serving (Triton) and the traceability API with its store."""
