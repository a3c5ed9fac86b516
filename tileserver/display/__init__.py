"""From float pixels to bytes: statistics and cuts, stretches, colormaps, rendering, encoding."""
