"""Batch handlers: one per input topic, each applying a list of validated events in the
caller's transaction and returning one outcome per event
(``applied``, ``duplicate``, ``parked`` or ``refused``)."""
