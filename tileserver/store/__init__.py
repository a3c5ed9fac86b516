"""Where pixels are kept: the pyramid format, the shared disk cache, the per-process tile cache, build progress."""
