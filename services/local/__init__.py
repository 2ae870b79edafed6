"""Local infrastructure for tests, demos and benchmarks: no service runs on it in production.

Lives here: a single-node Kafka (``kafka``), a throwaway PostgreSQL cluster
(``postgres``) and stopping the child processes they start (``processes``).

May import: the standard library and kafka-python (to wait for the broker).
Never a service package: ``services.cli``, ``services.demo`` and the tests
import this, not the other way round.
"""
