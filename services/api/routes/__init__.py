"""The API's endpoints, one ``APIRouter`` per resource (tasks, teams, accounts, stats,
tokens, callbacks, rules, health); ``create_app`` includes every router in ``ROUTERS``.

A route module may import ``services.api.deps`` (the caller, the app's parts),
``services.api.payloads``, the API's domain modules (repository, feedback, auth,
rules, figures, errors) and ``services.core``; never ``services.api.app`` or
another route module.
"""
