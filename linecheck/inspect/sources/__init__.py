"""Frame source implementations behind :class:`linecheck.inspect.frame_source.FrameSource`."""
