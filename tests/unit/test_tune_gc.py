"""The worker's GC set-up (issue 15): start-up heap frozen, a larger young generation."""

from __future__ import annotations

import gc

from workers.bootstrap import GC_GEN0_THRESHOLD, tune_gc


def test_tune_gc_freezes_the_start_up_heap_and_widens_the_young_generation() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD, before[1], before[2])
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
