"""The routing rule file, shared by the API and the router.

Lives here: reading and validating the rule file (``rules_file``), its YAML
line map for error messages (``yaml_lines``), the rules feed on the
``handoff.rules`` topic (``rules_feed``, kafka-python) and ``handoff routes``
(``routes_cli``).

May import: ``services.core``, ``schemas``, ``services.kafka_admin`` and
third-party libraries other than faust. Never ``services.api``,
``services.router`` or ``services.ingest``: those import this package.
"""
