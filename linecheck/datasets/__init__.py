"""Dataset formats (YOLO), converters from public defect-dataset formats, synthetic line data."""
