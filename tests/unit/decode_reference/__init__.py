"""The input decoder as it was before the fast path (main 526248f), kept verbatim as the
reference of tests/unit/test_decode_fast.py.

``_json``, ``common``, ``data``, ``data_v2``, ``events`` and ``decode`` are copies of
``schemas/_json.py``, ``schemas/common.py``, ``schemas/data.py``, ``schemas/data_v2.py``,
``schemas/events.py`` and ``workers/decode.py`` at that commit, with only their imports of
each other pointed here (the enums and ``describe_errors`` are shared, unchanged). Do not
"fix" or speed them up: they define the behaviour the product's decoder must keep.
"""
