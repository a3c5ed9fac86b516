"""The web layer: the only package that imports starlette, uvicorn or gunicorn; it maps domain errors to HTTP."""
