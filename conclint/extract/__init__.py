"""Stage 2: per-file extraction. ``source`` reads and parses one file, ``walker`` reduces the
tree to ``facts``, ``parallel`` runs it over many files, ``cache`` keeps the results.

Kept free of imports so that a run served from the cache never loads libcst.
"""
