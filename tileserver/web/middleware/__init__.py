"""ASGI middlewares, one per module, outermost first in web/app.py: security headers, header limit, proxy,
prefixed paths, counting."""
