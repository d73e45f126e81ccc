"""The QA / traceability HTTP API (FastAPI): ``create_app`` builds it, ``testing.run_api`` serves it."""
