"""The dashboard: server-rendered pages over the API's own reads and lifecycle.

Ops, team leads and department heads sign in once with an API token; the pages
show exactly what that token may read through ``/v1`` (the same route
functions build them), in Japanese or English, and refresh live over
server-sent events. ``routes.router`` is included by ``services.api.app``.
"""
