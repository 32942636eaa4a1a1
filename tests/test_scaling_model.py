"""The scaling model of bench/SCALING.md (bench/rehearsal/model.py): the properties its
predictions must have whatever the measured constants, checked on the formulas alone
(the rehearsal runs that check its figures need root; see tests/test_rehearsal.py)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from rehearsal import model  # noqa: E402

from scaleml.search._schedule import hyperband_brackets  # noqa: E402

GRID = model.Constants(link_bytes_per_s=1e8, fixed_s=0.5, call_s=0.3, call_at_once_s=0.6, at_once=4,
                       refit_s=0.4, cores=2)
PASSES = model.PassConstants(link_bytes_per_s=1e8, fixed_s=0.2, pass_s=0.05, block_s=0.1, block_at_once_s=0.25,
                             at_once=8, cores=2)


def _brackets(max_iter: int = 27, eta: int = 3) -> list[tuple[list[int], list[int]]]:
    return [(list(b.counts), list(b.budgets)) for b in hyperband_brackets(max_iter, eta)]


@pytest.mark.parametrize("workers", [2, 3, 4, 8, 16, 100])
def test_random_holders_never_copy_faster_than_a_tree(workers):
    # Each round at most doubles the holders, so no draw beats log2(N) rounds of one copy each.
    assert model.copy_rounds(workers, draws=200) >= math.ceil(math.log2(workers))


def test_copy_rounds_grow_with_workers_and_vanish_for_one():
    assert model.copy_rounds(1) == 0
    values = [model.copy_rounds(n, draws=200) for n in (2, 4, 8, 16)]
    assert values[0] == 1  # one holder, one copy
    assert values == sorted(values) and values[-1] > values[0]


@pytest.mark.parametrize("workers", [2, 4, 16, 1000])
def test_a_grid_fit_sends_the_data_from_the_client_once_whatever_the_workers(workers):
    predicted = model.grid_fit(2e8, workers, 24, GRID)
    assert predicted["client_sent_bytes"] == 2e8
    assert predicted["workers_received_bytes"] == 2e8 * workers


def test_grid_calls_run_in_waves_of_the_calls_at_once():
    predicted = model.grid_fit(2e8, 16, 24, GRID)
    assert predicted["parts"]["calls_s"] == pytest.approx(24 / 4 * GRID.call_at_once_s)
    # Fewer workers than the calls joblib keeps out: as many at once as workers.
    assert model.grid_fit(2e8, 2, 24, GRID)["parts"]["calls_s"] == pytest.approx(12 * GRID.call_at_once_s)


def test_a_blocked_fit_is_linear_in_its_passes_and_sends_the_data_once():
    one = model.blocked_fit(2e8, 16, 1, 8, PASSES, sent_from_client=True)
    ten = model.blocked_fit(2e8, 16, 10, 8, PASSES, sent_from_client=True)
    assert ten["seconds"] - one["seconds"] == pytest.approx(9 * one["per_pass_s"])
    assert one["per_pass_s"] == pytest.approx(2 * PASSES.block_at_once_s + PASSES.pass_s)  # 16 blocks, 8 at once
    assert one["client_sent_bytes"] == 2e8 and one["worker_received_bytes"] == 2e8 / 8


def test_blocks_read_from_shared_storage_cost_no_link_time():
    predicted = model.blocked_fit(2e8, 16, 5, 8, PASSES, sent_from_client=False, summary_bytes=1000)
    assert predicted["client_sent_bytes"] == 0
    assert predicted["parts"]["client_to_scheduler_s"] == predicted["parts"]["scheduler_to_workers_s"] == 0
    assert predicted["summaries_bytes"] == 5 * 16 * 1000


def _work(brackets, call_s, score_s):
    """Every task's seconds, one after another: its added calls and its score."""
    total = 0.0
    for counts, budgets in brackets:
        for i, (count, budget) in enumerate(zip(counts, budgets)):
            total += count * ((budget - (budgets[i - 1] if i else 0)) * call_s + score_s)
    return total


def test_hyperband_on_one_slot_takes_all_of_its_work():
    brackets = _brackets()
    assert model.schedule(brackets, 0.1, 0.02, slots=1, throughput=1) == pytest.approx(_work(brackets, 0.1, 0.02))


def test_hyperband_shared_by_many_slots_takes_as_long_as_its_work_allows():
    # Many workers that share one core's throughput: no faster than one slot (work is conserved).
    brackets = _brackets()
    assert model.schedule(brackets, 0.1, 0.02, slots=100, throughput=1) == pytest.approx(_work(brackets, 0.1, 0.02))
    # Twice the throughput: at least half, and (with rung barriers) not quite.
    two = model.schedule(brackets, 0.1, 0.02, slots=100, throughput=2)
    assert _work(brackets, 0.1, 0.02) / 2 <= two < _work(brackets, 0.1, 0.02)


def test_hyperband_on_unlimited_workers_takes_its_longest_chain_of_rungs():
    brackets = _brackets()
    chain = max(sum((budgets[i] - (budgets[i - 1] if i else 0)) * 0.1 + 0.02 for i in range(len(budgets)))
                for _, budgets in brackets)
    assert model.schedule(brackets, 0.1, 0.02, slots=1000, throughput=1000) == pytest.approx(chain)


@pytest.mark.parametrize("workers", [2, 16, 1000])
def test_hyperband_sends_the_data_from_the_client_once(workers):
    k = model.TaskConstants(link_bytes_per_s=1e8, fixed_s=0.5, call_s=0.1, call_at_once_s=0.2, at_once=2,
                            score_s=0.01, cores=2)
    predicted = model.hyperband_fit(5e7, _brackets(), workers, k)
    assert predicted["client_sent_bytes"] == 5e7
    assert predicted["parts"]["copies_among_workers_s"] == pytest.approx(model.copy_rounds(workers) * 0.5)
