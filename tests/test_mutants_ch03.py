"""Chapter 03's mutant catalogue: named bugs are caught by the exact checks meant for them.

Only the checks that need no trained model run here (fast); the full kill matrix, with the
claims measured on a small trained model, runs in tests/test_mutants.py (slow).
"""

import pytest

import memlab.attention.mutants  # noqa: F401  (registers chapter 03's mutants and checks)
from memlab.testing import mutants as M


def _run(check_name: str, mutant_name: str | None = None) -> M.CheckResult:
    return M.run_check_under("03", check_name, mutant_name)


def test_every_mechanism_has_three_mutants():
    mechs = M.mechanism_counts("03")
    assert len(mechs) == 4 and min(mechs.values()) >= 3, mechs


@pytest.mark.parametrize("check_name,mutant_name", [
    ("window_and_sinks_keep_hand_computed", "kv_cache_evicts_the_sinks"),
    ("window_and_sinks_keep_hand_computed", "sinks_counted_twice"),
    ("window_and_sinks_keep_hand_computed", "window_keeps_one_too_few"),
    ("sirllm_keep_hand_computed", "sirllm_decay_inverted"),
    ("sirllm_keep_hand_computed", "sirllm_entropy_sign"),
    ("cake_budgets_hand_computed", "cake_variance_subtracted"),
    ("cake_budgets_hand_computed", "cake_budget_not_redistributed"),
    ("query_aware_keep_hand_computed", "query_aware_reads_context_attention"),
    ("quantize_hand_computed", "quant_axis_swapped"),
    ("quantize_hand_computed", "quant_levels_truncated"),
    ("attention_parallel_equals_step", "cache_written_after_read"),
    ("attention_parallel_equals_step", "positions_not_advanced"),
    ("attention_parallel_equals_step", "causal_mask_off_by_one"),
])
def test_named_bug_is_caught(check_name, mutant_name):
    assert _run(check_name).passed
    assert not _run(check_name, mutant_name).passed
