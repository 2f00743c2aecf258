"""The daemon: the REST API over HTTP, and the supervisor of run processes.

Installed as ``uniflow.daemon``. It adapts the core (``uniflow``) to HTTP and
holds no rule the CLI would need too.
"""
