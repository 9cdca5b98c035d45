"""A rescore's write budget converges on the rows a step of the target time holds, and stays in its bounds."""

from __future__ import annotations

from leadvibe.pipeline.rescore_pace import WriteBudget


def _step_seconds(rows: int) -> float:
    return 0.010 + rows * 0.00004  # a commit's 10 ms and 40 µs per row: 750 rows take 40 ms


def test_the_budget_converges_on_the_target_time() -> None:
    budget = WriteBudget(40.0, 100, 50, 10_000)
    for _ in range(40):
        budget.observe(budget.rows, _step_seconds(budget.rows))
    assert abs(budget.rows - 750) <= 5


def test_the_budget_shrinks_when_steps_are_slow_and_stays_in_bounds() -> None:
    budget = WriteBudget(40.0, 500, 100, 1_000)
    budget.observe(500, 0.400)  # a busy machine: ten times the target
    assert budget.rows == 275  # halfway to the 50 rows that would have taken 40 ms
    for _ in range(10):
        budget.observe(budget.rows, 0.400)
    assert budget.rows == 100
    for _ in range(10):
        budget.observe(budget.rows, 0.001)
    assert budget.rows == 1_000


def test_a_step_that_wrote_nothing_teaches_nothing() -> None:
    budget = WriteBudget(40.0, 500, 100, 1_000)
    budget.observe(0, 0.050)
    budget.observe(300, 0.0)
    assert budget.rows == 500
