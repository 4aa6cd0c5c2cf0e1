"""SQL shared by the handlers and the monitor (neither imports the other).

Each module here owns the statements of one table family; the rules in
``workers/rules`` are the reference the statements are tested equal to.
"""
