"""Configuration is validated once, at the boundary, and accepts the xcheck files' JSON."""
import dataclasses

import pytest

from fillsim import Config, Jitter, QueueModel


def test_a_dict_is_read_by_field_name():
    cfg = Config.coerce({"tick_size": 0.01, "lot_size": 1.0, "entry_latency_ns": 200000,
                         "response_latency_ns": 200000, "queue_model": ["power", 3.0],
                         "partial_fills": False})
    assert cfg.queue_model == QueueModel("power", 3.0)
    assert cfg.entry_latency_ns == 200_000 and cfg.partial_fills is False


@pytest.mark.parametrize("spec, expected", [
    ("risk_averse", QueueModel()), ("power:2", QueueModel("power", 2.0)),
    (("power3", 3), QueueModel("power3", 3.0)), (["log"], QueueModel("log")),
    (("log2",), QueueModel("log2")),
])
def test_queue_models_are_named_several_ways(spec, expected):
    assert QueueModel.coerce(spec) == expected


@pytest.mark.parametrize("changes", [
    {"tick_size": 0}, {"lot_size": -1}, {"tick_size": float("nan")}, {"entry_latency_ns": -5},
    {"response_latency_ns": 1.5}, {"queue_model": "fifo"}, {"queue_model": ("power", -1)},
    {"queue_model": ("power", 1, 2)}, {"jitter": {"kind": "gaussian"}},
    {"jitter": {"kind": "normal", "sigma": -1}}, {"jitter": {"kind": "table"}},
    {"jitter": {"kind": "table", "table": [(-1, 5)]}},
])
def test_bad_values_are_refused(changes):
    with pytest.raises(ValueError):
        Config(**changes)


def test_unknown_keys_and_types_are_refused():
    with pytest.raises(ValueError, match="unknown"):
        Config.coerce({"tick": 0.01})
    with pytest.raises(TypeError):
        Config.coerce(["tick_size", 0.01])


def test_config_is_frozen_and_replace_validates_again():
    cfg = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.tick_size = 0.05
    assert cfg.replace(tick_size=0.05).tick_size == 0.05
    with pytest.raises(ValueError):
        cfg.replace(tick_size=-0.05)


def test_jitter_table_rows_are_normalised_to_int_pairs():
    assert Jitter("table", table=[[1.0, 2]]).table == ((1, 2),)
