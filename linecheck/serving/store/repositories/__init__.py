"""SQL for the traceability store, one module per aggregate; services call these, routes never do."""
