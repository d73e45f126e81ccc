"""The QA review web pages served by the API (queue, trace view, line dashboard)."""
