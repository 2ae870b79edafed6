"""The API's request and response models, one module per resource (their class names are
the OpenAPI schema names, so they do not change lightly).

May import pydantic, ``schemas``, ``services.core`` and the API's own domain modules (db
rows, auth principals, figures, webhook formats); never FastAPI routes, deps or the app.
"""
