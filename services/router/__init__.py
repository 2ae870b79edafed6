"""The router: a Faust app that decides which team gets each event, and when it is late.

Lives here: the Faust app, its agents, tables and worker (``app``, the only
module that imports faust); one event through one handler (``pipeline``),
batched table writes (``batch``), send-until-acknowledged and the dead letter
(``sender``), the SLA timer (``timer``); ``handlers/`` (decode, call the core,
return what to send); the topics' formats (``inbound``, ``internal``,
``clock_table``, ``outbound``); settings, metrics, and ``handoff rules
publish`` (``rules_cli``: publishes a rule file to the workers with the
router's settings).

May import: ``services.core``, ``services.rules``, ``schemas``, the shared
``services.config`` / ``services.kafka_admin`` / ``services.kafka_lag``, and
faust (``app`` only), aiokafka, pydantic, prometheus_client. Never
``services.api`` or ``services.ingest``.
"""
