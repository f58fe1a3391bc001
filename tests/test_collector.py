"""The garbage collector in the served service: start-up and long-lived objects frozen out of full passes, every
pass timed."""
from __future__ import annotations

import contextlib
import gc
import sys
import threading
import weakref

import pytest
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families

from optsim.ops import collector
from tests.suite import suite, wait_for  # noqa: F401  (suite is the fixture)


def test_freezing_takes_start_up_objects_out_of_a_full_pass():
    # Arrange: long-lived objects, as start-up leaves them
    start_up = [{"series": i} for i in range(20_000)]
    try:
        # Act
        frozen = collector.freeze_startup()
        tracked = len(gc.get_objects())
        # Assert: the collector no longer walks them
        assert frozen >= len(start_up)
        assert not any(obj is start_up for obj in gc.get_objects())
        assert tracked < frozen
    finally:
        gc.unfreeze()


def test_each_pass_is_observed_by_generation():
    # Arrange
    pauses = Histogram("pauses", "test", ["generation"], registry=CollectorRegistry())
    callback = collector.time_collections(pauses)
    try:
        # Act
        gc.collect(1)
        gc.collect()
        # Assert
        assert pauses.labels("1")._sum.get() > 0 and pauses.labels("2")._sum.get() > 0
    finally:
        gc.callbacks.remove(callback)


def test_a_pass_that_starts_while_a_scrape_holds_the_histogram_does_not_deadlock():
    # Arrange: a scrape copies the children under the histogram's own lock, and that copy can start a pass
    pauses = Histogram("pauses", "test", ["generation"], registry=CollectorRegistry())
    callback = collector.time_collections(pauses)

    def scrape_during_a_pass() -> None:
        with pauses._lock:
            gc.collect()

    try:
        # Act
        scraper = threading.Thread(target=scrape_during_a_pass, daemon=True)
        scraper.start()
        scraper.join(10)
        # Assert
        assert not scraper.is_alive(), "the collector's callback waited on the lock its own thread holds"
        assert pauses.labels("2")._sum.get() > 0
    finally:
        gc.callbacks.remove(callback)


@contextlib.contextmanager
def tuned(config, **service):
    """A service built with ``service`` settings and its interpreter tuned; everything undone after."""
    from options_service import create_app, tune_interpreter
    app = create_app(config.model_copy(update={"service": config.service.model_copy(update=service)}))
    before = sys.getswitchinterval()
    callbacks = tune_interpreter(app)
    try:
        yield app, callbacks
    finally:
        for callback in callbacks:
            gc.callbacks.remove(callback)
        gc.unfreeze()
        sys.setswitchinterval(before)


def test_serving_freezes_start_up_times_the_passes_and_sets_the_switch_interval(config):
    # Arrange / Act
    with tuned(config, gil_switch_interval_s=0.002) as (app, callbacks):
        gc.collect(0)
        # Assert
        assert sys.getswitchinterval() == pytest.approx(0.002) and gc.get_freeze_count() > 0
        assert app.extensions["desk"].metrics.gc_pauses.labels("0")._sum.get() > 0
        assert len(callbacks) == 2  # the pass timer and the survivors' freezer


def test_survivors_of_a_full_pass_are_frozen_out_of_the_next(config):
    # Arrange: a book of long-lived objects made after start-up, as working orders are
    callback = collector.freeze_survivors(thaw_every_s=3600)
    book = [{"order": i} for i in range(5_000)]
    try:
        # Act
        gc.collect()
        # Assert: the next full pass does not walk them
        assert not any(obj is book for obj in gc.get_objects())
        assert gc.get_freeze_count() >= len(book)
    finally:
        gc.callbacks.remove(callback)
        gc.unfreeze()


def test_a_cycle_that_dies_while_frozen_is_freed_after_the_thaw():
    # Arrange: a cycle alive at a full pass (frozen), then dropped
    class Node:
        pass

    now = [0.0]
    callback = collector.freeze_survivors(thaw_every_s=600, clock=lambda: now[0])
    node = Node()
    node.me = node
    alive = weakref.ref(node)
    try:
        gc.collect()
        del node
        gc.collect()
        assert alive() is not None  # frozen: no pass sees that the cycle is garbage
        # Act: the thaw comes due
        now[0] = 601
        gc.collect()  # ends by thawing
        gc.collect()  # walks everything once
        # Assert
        assert alive() is None
    finally:
        gc.callbacks.remove(callback)
        gc.unfreeze()


def test_a_zero_thaw_interval_freezes_nothing_after_start_up(config):
    with tuned(config, gc_thaw_interval_s=0) as (_, callbacks):
        assert len(callbacks) == 1


def test_the_served_service_exports_its_collector_passes(suite):
    # Arrange: requests that allocate (every answer is built of fresh objects)
    for _ in range(20):
        assert suite.get("/health").status_code in (200, 503)

    def young_passes() -> float:
        text = suite.get("/metrics").text
        return next((s.value for f in text_string_to_metric_families(text) if f.name == "optsim_gc_pause_seconds"
                     for s in f.samples if s.name.endswith("_count") and s.labels["generation"] == "0"), 0.0)

    # Act / Assert: generation 0 runs every ~700 allocations; a handful of requests make them
    assert wait_for(young_passes, 10, 0.2, "a timed collector pass") > 0
