"""Ingest: each source's format -> handoff's CloudEvents -> Kafka (kafka-python).

Lives here: the webhook service (``app``, ``server``, ``bodies``), batch imports
(``batch``, ``cli``), Kafka-native raw topics (``raw``), webhook signatures,
decoding and time parsing, the publisher, Kafka health probes (``probes``),
settings and metrics; ``adapters/`` has one module per vendor.

May import: ``services.core``, ``schemas``, the shared ``services.config`` /
``services.kafka_admin`` / ``services.kafka_lag``, and Starlette/FastAPI,
kafka-python, pydantic, prometheus_client. Never ``services.api``,
``services.router`` or faust.
"""
