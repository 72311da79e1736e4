"""Dataset families: ``base`` (spec, cache, ``GraphDataset``), ``generic`` (graph-JSON sets), ``molecules``.

Users go through :mod:`graphgen.data.registry` (``DATASETS``, ``load_dataset``).
"""
