"""Line-side inspection service: frames -> detector -> verdict -> API."""
