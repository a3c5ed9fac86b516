"""ASGI middlewares, one per module, outermost first in web/app.py: header limit, proxy, prefixed paths, counting."""
