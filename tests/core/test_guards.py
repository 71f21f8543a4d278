"""Operator drills (issue 12): hostile keys, paths leaving the warehouse, corrupt and half-written
files, absurd grids and non-finite settings are refused with one line naming what is at fault."""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import subprocess
import sys
import time
import tracemalloc
import typing
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.core.test_storage import frame
from threadx_core import settings, storage
from threadx_core.data import sources
from threadx_core.data.synthetic import synthetic
from threadx_core.engine.params import Params
from threadx_core.sweep.grid import Grid, GridTooLargeError, axis_length, count
from threadx_core.symbols import SymbolError, check_symbol
from threadx_core.testing.fake_binance import FakeBinance

pytestmark = pytest.mark.drill  # docs/OPERATIONS.md, Drills

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ["../x", "..", ".", "a/b", "BTC/USDT", "BTC USDT", "", "btcusdt", "BTCusdt", "BTC\x00USDT",
           "A" * 21, "B", "BTCUSDT\n", "BTC-USDT", "ＢＴＣＵＳＤＴ", "../../../../escape", "symbol=X"]
JAN, FEB = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-02-01", tz="UTC")


# -- hostile symbols ---------------------------------------------------------------------------

@pytest.mark.parametrize("symbol", HOSTILE)
def test_hostile_symbols_are_refused_by_the_symbol_rule_naming_them(symbol):
    with pytest.raises(SymbolError, match="is not a Binance spot symbol") as err:
        check_symbol(symbol)
    assert repr(symbol[:40]) in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHBTC", "1INCHUSDT", "A" * 20, "BN"])
def test_binance_spot_symbols_pass(symbol):
    assert check_symbol(symbol) == symbol


@pytest.mark.parametrize("symbol", HOSTILE)
def test_settings_refuse_hostile_symbols(tmp_path, symbol):
    with pytest.raises(settings.SettingsError, match=r"\[universe\] symbols: symbol "):
        settings.from_mapping({"universe": {"symbols": ["BTCUSDT", symbol]}}, base_dir=tmp_path)


@pytest.mark.parametrize("symbol", HOSTILE)
@pytest.mark.parametrize("kind", ["synthetic", "binance", "binance_vision"])
def test_every_source_refuses_hostile_symbols_before_any_request(tmp_path, fake_binance: FakeBinance,
                                                                 kind, symbol):
    state = tmp_path / "state"
    loaded = settings.from_mapping(
        {"source": {"kind": kind},
         "binance": {"rest_url": fake_binance.url, "vision_url": fake_binance.url, "state_dir": "state"}},
        base_dir=tmp_path)
    source = sources.from_settings(loaded)
    with pytest.raises(SymbolError, match="is not a Binance spot symbol"):
        source.fetch(symbol, JAN, FEB, now=FEB + pd.Timedelta(days=40))
    assert fake_binance.requests == []
    assert not (state / "ip-state.json").exists()


def test_synthetic_refuses_hostile_symbols_itself():
    with pytest.raises(SymbolError):
        synthetic("../evil", "2024-01-01", "2024-01-02")


# -- storage: keys and containment -------------------------------------------------------------

@pytest.mark.parametrize("symbol", HOSTILE)
def test_storage_refuses_hostile_symbols_naming_the_key(tmp_path, symbol):
    for build in (lambda: storage.partition_path(tmp_path, "raw_1m", symbol, "2024-01"),
                  lambda: storage.symbol_path(tmp_path, "walk_forward", symbol),
                  lambda: storage.reports_path(tmp_path, symbol),
                  lambda: storage.reports_path(tmp_path, symbol, "2024-01")):
        with pytest.raises(storage.StorageKeyError, match=r"storage key .*is not a Binance spot symbol"):
            build()


@pytest.mark.parametrize("asset", ["..", ".", "", "raw/1m", "../raw_1m", "raw 1m", "raw_1m\x00", "/etc"])
def test_storage_refuses_bad_asset_names(tmp_path, asset):
    with pytest.raises(storage.StorageKeyError, match="asset name") as err:
        storage.partition_path(tmp_path, asset, "BTCUSDT", "2024-01")
    assert repr(asset) in str(err.value)
    with pytest.raises(storage.StorageKeyError):
        storage.read_asset(tmp_path, asset)


@pytest.mark.parametrize("month", ["2024-1", "2024-13", "2024-01-01", "2024-01/../..", "../2024-01",
                                   "2024-01\n", "", "202４-01", "24-01"])
def test_storage_refuses_bad_months(tmp_path, month):
    with pytest.raises(storage.StorageKeyError, match="is not of the form YYYY-MM"):
        storage.partition_path(tmp_path, "raw_1m", "BTCUSDT", month)
    with pytest.raises(storage.StorageKeyError, match="is not of the form YYYY-MM"):
        storage.reports_path(tmp_path, "BTCUSDT", month)


def test_good_keys_give_the_documented_layout(tmp_path):
    assert storage.symbol_path(tmp_path, "walk_forward", "BTCUSDT") == (
        tmp_path / "walk_forward" / "symbol=BTCUSDT" / "all.parquet")
    assert storage.reports_path(tmp_path, "BTCUSDT") == tmp_path / "reports" / "BTCUSDT"
    month = storage.reports_path(tmp_path, "BTCUSDT", "2024-03")
    assert month == tmp_path / "reports" / "BTCUSDT" / "2024-03"


@pytest.mark.parametrize("link", ["raw_1m", "raw_1m/symbol=BTCUSDT",
                                  "raw_1m/symbol=BTCUSDT/month=2024-01.parquet", "reports"])
def test_a_symlink_inside_the_warehouse_pointing_outside_is_refused(tmp_path, link):
    root, outside = tmp_path / "warehouse", tmp_path / "outside"
    outside.mkdir()
    (root / link).parent.mkdir(parents=True, exist_ok=True)
    (root / link).symlink_to(outside / "target")
    with pytest.raises(storage.StorageKeyError, match="resolves outside the warehouse root"):
        if link == "reports":
            storage.reports_path(root, "BTCUSDT")
        else:
            storage.partition_path(root, "raw_1m", "BTCUSDT", "2024-01")


def test_a_symlink_inside_the_warehouse_pointing_inside_it_is_allowed(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "raw_1m").symlink_to(tmp_path / "elsewhere")
    path = storage.partition_path(tmp_path, "raw_1m", "BTCUSDT", "2024-01")
    storage.write_partition(frame(3), path)
    assert (tmp_path / "elsewhere" / "symbol=BTCUSDT" / "month=2024-01.parquet").exists()


_PARTS = st.one_of(st.text(), st.sampled_from(["raw_1m", "BTCUSDT", "2024-01", "..", ".", "/", "a/../.."]))


@hypothesis_settings(max_examples=300, deadline=None)
@given(asset=_PARTS, symbol=_PARTS, month=_PARTS)
def test_any_key_either_raises_or_gives_a_path_under_the_root(tmp_path_factory, asset, symbol, month):
    root = tmp_path_factory.getbasetemp() / "warehouse"
    try:
        path = storage.partition_path(root, asset, symbol, month)
    except storage.StorageKeyError as exc:
        assert "\n" not in str(exc).replace(repr("\n")[1:-1], "")
        return
    assert path.resolve().is_relative_to(root.resolve())
    assert path.relative_to(root).parts == (asset, f"symbol={symbol}", f"month={month}.parquet")


# -- corrupt files -----------------------------------------------------------------------------

CORRUPTIONS = {
    "truncated": lambda data: data[: len(data) // 2],
    "zero bytes": lambda data: b"",
    "random bytes": lambda data: os.urandom(len(data)),
    "footer only": lambda data: data[:4] + bytes(len(data) - 8) + data[-4:],
}


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_corrupt_partition_is_an_error_naming_the_file_never_skipped(tmp_path, how):
    for month in ("2024-01", "2024-02", "2024-03"):
        path = storage.partition_path(tmp_path, "raw_1m", "BTCUSDT", month)
        storage.write_partition(frame(5, f"{month}-01"), path)
    bad = storage.partition_path(tmp_path, "raw_1m", "BTCUSDT", "2024-02")
    bad.write_bytes(CORRUPTIONS[how](bad.read_bytes()))

    with pytest.raises(storage.CorruptPartitionError, match=r"month=2024-02\.parquet is corrupt") as err:
        storage.read_partition(bad)
    assert err.value.path == bad
    with pytest.raises(storage.CorruptPartitionError, match=r"month=2024-02\.parquet is corrupt") as err:
        storage.read_asset(tmp_path, "raw_1m")
    assert err.value.path == bad
    assert "\n" not in str(err.value)


def test_a_corrupt_partition_is_not_an_absent_one(tmp_path):
    """A ``--force`` re-fetch may treat it as absent, but only by catching it explicitly."""
    path = storage.partition_path(tmp_path, "raw_1m", "BTCUSDT", "2024-01")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    with pytest.raises(storage.CorruptPartitionError) as err:
        storage.read_partition(path)
    assert not isinstance(err.value, OSError | ValueError)


# -- killed writes: temporary files --------------------------------------------------------------

def _temp(path: Path, age_s: float, tag: str = "0" * 32) -> Path:
    tmp = path.with_name(f".{path.name}.{tag}.tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(b"PAR1 half a file killed midway")
    stamp = time.time() - age_s
    os.utime(tmp, (stamp, stamp))
    return tmp


#: A writer killed (SIGKILL, no clean-up possible) after ``argv[2]`` bytes of its Parquet file.
_KILLED_WRITER = """
import os, signal, sys
import pyarrow.parquet as pq
from tests.core.test_storage import frame
from threadx_core import storage

def die_midway(table, sink, **kwargs):
    sink.write(b"PAR1" + b"x" * int(sys.argv[2]))
    sink.flush()
    os.kill(os.getpid(), signal.SIGKILL)

pq.write_table = die_midway
storage.write_partition(frame(50, price=200.0), sys.argv[1])
"""


@pytest.mark.parametrize("kills", [10])
def test_writers_killed_while_writing_never_leave_a_partial_partition(tmp_path, kills):
    path = storage.partition_path(tmp_path, "raw_1m", "BTCUSDT", "2024-01")
    good = frame(10, price=100.0)
    storage.write_partition(good, path)
    for n in range(kills):
        done = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(path), str(7 ** n % 5000)],
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True)
        assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
        # the good partition is whole, and the dead writers' temp files are invisible to readers
        pd.testing.assert_frame_equal(storage.read_partition(path), good)
        pd.testing.assert_frame_equal(storage.read_asset(tmp_path, "raw_1m").drop(columns="symbol"), good)
    leftovers = sorted(path.parent.glob(f".{path.name}.*.tmp"))
    assert len(leftovers) == kills
    for leftover in leftovers:  # as old as a dead writer's file gets
        os.utime(leftover, (time.time() - storage.STALE_TEMP_S - 1,) * 2)
    storage.write_partition(frame(20, price=300.0), path)
    assert os.listdir(path.parent) == [path.name]
    assert len(storage.read_partition(path)) == 20


def test_the_next_write_removes_stale_temp_files_of_that_partition_only(tmp_path):
    path = storage.partition_path(tmp_path, "raw_1m", "BTCUSDT", "2024-01")
    other = storage.partition_path(tmp_path, "raw_1m", "BTCUSDT", "2024-02")
    stale = _temp(path, storage.STALE_TEMP_S + 60, "a" * 32)
    live = _temp(path, 1.0, "b" * 32)
    others = _temp(other, storage.STALE_TEMP_S + 60, "c" * 32)
    unrelated = path.with_name(f".{path.name}.notes.tmp")
    unrelated.write_bytes(b"x")
    os.utime(unrelated, (0, 0))

    storage.write_partition(frame(4), path)

    assert not stale.exists()
    assert live.exists() and others.exists() and unrelated.exists()
    assert len(storage.read_partition(path)) == 4


def test_exports_clean_their_stale_temp_files_too(tmp_path):
    target = tmp_path / "reports" / "BTCUSDT" / "summary.md"
    stale = _temp(target, storage.STALE_TEMP_S + 60)
    storage.write_bytes(b"# report", target)
    assert not stale.exists()


def test_readers_never_see_temp_files(tmp_path):
    path = storage.partition_path(tmp_path, "raw_1m", "BTCUSDT", "2024-01")
    storage.write_partition(frame(4), path)
    _temp(path, 1.0)
    _temp(storage.partition_path(tmp_path, "raw_1m", "BTCUSDT", "2024-02"), 1.0)
    everything = storage.read_asset(tmp_path, "raw_1m")
    assert len(everything) == 4


# -- absurd grids ------------------------------------------------------------------------------

def test_a_billion_combination_grid_is_counted_and_refused_without_building_it():
    spec = {"bb_period": list(range(2, 1002)), "atr_period": list(range(1, 1001)),
            "bb_std": {"start": 0.001, "stop": 1.0, "step": 0.001}}
    assert count(spec) == 10**9
    refusal = (r"grid has 1,000,000,000 combinations \(about 931 GiB\), "
               r"more than the limit of 200,000 \(\[sweep\] max_combinations\)")
    with pytest.raises(GridTooLargeError, match=refusal):
        Grid(spec)


def test_counting_a_spec_whose_values_would_need_gigabytes_allocates_nothing():
    spec = {"bb_std": {"start": 1.0, "stop": 2.0, "step": 1e-9},
            "atr_mult": {"start": 1, "stop": 10**6, "step": 1}}
    tracemalloc.start()
    try:
        total = count(spec)
        with pytest.raises(GridTooLargeError, match=r"grid bb_std has 1,000,000,00\d combinations"):
            Grid(spec)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == axis_length("bb_std", spec["bb_std"]) * 10**6 >= 10**15  # 10^9 floats: 8 GB
    assert peak < 1_000_000


@pytest.mark.parametrize("step", [1e-300, 5e-324])
def test_a_tiny_step_is_refused_naming_the_axis(step):
    with pytest.raises(GridTooLargeError, match="grid bb_std has"):
        Grid({"bb_std": {"start": 1.0, "stop": 2.0, "step": step}})


def test_a_range_too_long_to_count_is_refused():
    spec = {"bb_std": {"start": -1e308, "stop": 1e308, "step": 1e-10}}
    assert count(spec) == math.inf
    with pytest.raises(GridTooLargeError, match="grid bb_std has inf combinations"):
        Grid(spec)


def test_the_limit_is_exclusive_of_equal_and_configurable(tmp_path):
    spec = {"bb_period": [10, 20, 30], "atr_mult": [1.0, 2.0]}
    assert len(Grid(spec, max_combinations=6)) == 6
    with pytest.raises(GridTooLargeError):
        Grid(spec, max_combinations=5)
    with pytest.raises(settings.SettingsError, match=r"\[grid\] grid has 6 combinations .*limit of 5"):
        settings.from_mapping({"grid": spec, "sweep": {"max_combinations": 5}}, base_dir=tmp_path)
    assert settings.from_mapping({}, base_dir=tmp_path).sweep.max_combinations == 200_000


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("key", ["start", "stop", "step"])
def test_non_finite_range_bounds_are_refused_naming_the_parameter(key, bad):
    spec = {"start": 1.0, "stop": 2.0, "step": 0.5} | {key: bad}
    with pytest.raises(ValueError, match="grid bb_std: start, stop and step must be finite"):
        Grid({"bb_std": spec})


FLOAT_PARAMS = [f.name for f in dataclasses.fields(Params) if f.type in (float, "float")]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("name", FLOAT_PARAMS)
def test_non_finite_float_parameters_are_refused_in_params_and_grids(name, bad):
    with pytest.raises(ValueError, match=f"{name} must be a finite number"):
        Params(**{name: bad})
    with pytest.raises(ValueError, match=f"{name} must be a finite number"):
        Grid({name: [getattr(Params(), name), bad]})


# -- non-finite settings -----------------------------------------------------------------------

def _float_keys() -> list[tuple[str, str, object]]:
    """Every float (or tuple of floats) key of every settings section."""
    keys = []
    for section in dataclasses.fields(settings.Settings):
        if section.name == "path":
            continue
        hints = typing.get_type_hints(section.default_factory)
        for key, hint in hints.items():
            if hint is float:
                keys.append((section.name, key, float))
            elif typing.get_origin(hint) is tuple and float in typing.get_args(hint):
                keys.append((section.name, key, tuple))
    return keys


def test_the_float_keys_are_found():
    assert ("binance", "timeout_s", float) in _float_keys() and ("device", "ratios", tuple) in _float_keys()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(("section", "key", "shape"), _float_keys())
def test_every_float_setting_rejects_nan_and_infinities_naming_the_key(tmp_path, section, key, shape, bad):
    value = bad if shape is float else [bad]
    with pytest.raises(settings.SettingsError, match=rf"\[{section}\] {key} = .*must be finite"):
        settings.from_mapping({section: {key: value}}, base_dir=tmp_path)


def test_an_infinite_timeout_in_a_file_is_refused(tmp_path):
    path = tmp_path / "threadx.toml"
    path.write_text("[binance]\ntimeout_s = inf\n")
    with pytest.raises(settings.SettingsError, match=r"\[binance\] timeout_s = inf: must be finite"):
        settings.load(path)
