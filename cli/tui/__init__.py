"""The terminal UI of ``uniflow tui``: runs, pipelines and API tokens, over the API.

Only the ``tui`` command imports this package, so that the other commands never
pay for loading Textual. The app talks to the daemon through the same session as
the CLI (:mod:`uniflow.cli.session`), from worker threads, so the interface
never waits on the network.
"""
