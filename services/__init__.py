"""handoff's services: ingest, the router and the API, and what they share.

Lives here: one package per service (``ingest``, ``router``, ``api``), the pure
domain (``core``), the rule file (``rules``), local Kafka and PostgreSQL for
tests and demos (``local``), and a few shared modules: ``config`` (what every
service's settings share), ``kafka_admin`` (topics), ``kafka_lag`` (consumer
lag), ``traffic`` (sample tickets), ``cli`` and ``demo`` (the ``handoff``
command, the only modules that import every service).

May import: ``schemas`` and third-party libraries. ``api``, ``router`` and
``ingest`` never import each other, only ``core``, ``rules``, ``schemas`` and
the shared modules here (import-linter contracts in ``pyproject.toml``).
"""
