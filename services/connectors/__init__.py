"""Trackers and chat: one small module per vendor behind one interface (issue 14).

A team's tasks become issues in its tracker (Jira, GitHub Issues, Backlog, or
any webhook) and messages in its chat (Slack, Microsoft Teams). Adding a
vendor is one module implementing ``base.Tracker`` or ``base.Chat``, one entry
in ``registry.py`` and one test against a local server playing the vendor.
Imports no service (api, router, ingest): the tracker consumer runs them.
"""
