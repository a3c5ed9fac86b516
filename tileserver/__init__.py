"""tileserver: a tile-serving viewer for huge scientific images."""

__version__ = "0.1.0"
