"""The API's rules (validation against a line, idempotency, grading, review), between routes and SQL."""
