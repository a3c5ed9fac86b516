"""The sky side of an image: HEALPix tiling and HiPS (no HTTP here; the routes are in web/hips.py)."""
