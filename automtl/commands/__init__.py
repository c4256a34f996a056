"""Subcommand modules of the ``automtl`` CLI, one per part (see ``automtl.cli``)."""
