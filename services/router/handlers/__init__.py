"""The router's handlers, one module per concern: intake (support tickets and sales
notes), grouping, the account index, SLA clocks and line capacity.

A handler decodes one message (``services.router.inbound`` / ``internal`` /
``clock_table``), calls the core (``services.core``) for the decision, and
returns what it wants done -- a ``Handled`` with its sends and table writes --
instead of doing it; ``services.router.pipeline`` performs them. Handlers may
import the core, ``services.rules``, schemas and the router's codecs; never
faust, never the sender.
"""
