"""A worker pool process freezes its start-up objects, so the collector's full passes during a task skip
them (issue 25: a 10,000-component SBOM's parse spent ~0.2 s CPU walking Django's objects)."""

import gc

from celery import signals

from compliance_portal.celery import freeze_start_up_objects


def test_a_worker_pool_process_moves_its_start_up_objects_out_of_the_collectors_reach():
    assert freeze_start_up_objects in [ref() for _key, ref in signals.worker_process_init.receivers]
    assert freeze_start_up_objects in [ref() for _key, ref in signals.worker_ready.receivers]  # a solo pool
    frozen_before = gc.get_freeze_count()  # tests/conftest.py freezes what collection built
    gc.unfreeze()
    alive = len(gc.get_objects())
    try:
        freeze_start_up_objects(sender=None)
        assert gc.get_freeze_count() >= alive > 10_000  # Django and the apps are loaded by now
        assert len(gc.get_objects()) < alive
    finally:
        gc.unfreeze()
        if frozen_before:
            gc.freeze()
