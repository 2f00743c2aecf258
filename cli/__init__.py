"""The ``uniflow`` command and its terminal rendering; installed as ``uniflow.cli``."""
