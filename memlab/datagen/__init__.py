"""Generators of the files shipped in ``data/`` (one module per file; see memlab.data)."""
