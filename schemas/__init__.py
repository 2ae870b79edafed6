"""handoff's wire contracts: topic names and the CloudEvents they carry."""
