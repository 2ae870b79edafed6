"""The API: FastAPI over the tasks the router routed, and the loop that stores them.

Lives here: ``create_app`` (``app``), its dependencies, middleware, error
translation and background workers; ``routes/`` (one ``APIRouter`` per
resource) and ``payloads/`` (their request and response models); the
projection of ``handoff.routed`` into the database (``projection``: pure rows,
``projector``: the Kafka loop); the database (``db``: tables and writes,
``repository``: reads, ``rollups``: the figures' aggregates, ``migrations/``);
task lifecycle, feedback, callbacks, trackers, tokens and metrics.

May import: ``services.core``, ``services.rules``, ``schemas``, the shared
``services.config`` / ``services.kafka_lag``, and FastAPI, SQLAlchemy,
kafka-python, pydantic, prometheus_client. Never ``services.router``,
``services.ingest`` or faust.
"""
