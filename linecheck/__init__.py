"""linecheck: visual quality inspection for textile, bearing and PV lines with one-code traceability."""

__version__ = "0.1.0"
