"""The fault suite (issue 10): six scenarios that break what production breaks.

``make chaos`` runs each at full size and prints one table row per scenario
(``python -m bench.chaos``); ``tests/integration/test_chaos_*.py`` run the same
code at a small size in ``make test`` and assert on behaviour: nothing lost,
nothing routed under two ids, every part recovered without a restart.
See docs/chaos.md.
"""
