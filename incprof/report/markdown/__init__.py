"""The Markdown text of each report page, from records the builder computed.

Pure functions of their arguments: every number on a page arrives in a record, and these
functions only choose, order and format (tables through :func:`incprof.report.tables.render`).
One module per concern: ``analyzers`` (every registered analyzer's record), ``common``
(what every page shares), ``costs`` (overview, networks, blocks, counters, index),
``memory``, ``studies`` (factorization, Table 1, claims) and ``timing`` (latency,
prediction).
"""

from incprof.report.markdown.analyzers import analyzers_page
from incprof.report.markdown.costs import (
    blocks_page,
    counters_page,
    index_page,
    network_page,
    overview_page,
)
from incprof.report.markdown.memory import memory_page
from incprof.report.markdown.studies import claims_page, factorization_page, table1_page
from incprof.report.markdown.timing import latency_page, predict_page

__all__ = [
    "analyzers_page",
    "blocks_page",
    "claims_page",
    "counters_page",
    "factorization_page",
    "index_page",
    "latency_page",
    "memory_page",
    "network_page",
    "overview_page",
    "predict_page",
    "table1_page",
]
