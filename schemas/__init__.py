"""handoff's wire contracts: topic names and the CloudEvents they carry.

Lives here: the topics (``topics``), the events and their data (``events``),
the dead letter (``dlq``) and the generated JSON Schema (``jsonschema``, the
files under ``json/``).

May import: the standard library and pydantic. Never ``services``: every
service imports this package.
"""
