"""Papers' data, kept beside the code that checks incprof's figures against it.

Each module holds what one paper prints or claims and the pure functions that compare it
with incprof's analyses; the report and the CLI only format what they return. Studies use
the registry and the analyzers, never the api, the CLI or the report.
"""
