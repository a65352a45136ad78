"""Chapter 19's claims at test size, through the same functions as the notebook."""

import pytest

from memlab import sweep as S
from memlab.atlas import analysis as A
from memlab.atlas import registry as R
from memlab.atlas import suite as SU
from memlab.chapters import get_chapter

CLAIMS = get_chapter("19").claims


def test_state_bytes_match_the_formulas_and_a_dtype_bug_fails_the_claim():
    from unittest import mock

    assert CLAIMS["state_bytes_match_formula"].check(SU.state_bytes_error(sorted(R.FORMULAS)))
    with mock.patch.object(R, "_itemsize", lambda model: 1):
        assert not CLAIMS["state_bytes_match_formula"].check(SU.state_bytes_error(["linear"]))


def test_a_finished_sweep_is_not_run_again(tmp_path):
    grid = {"mixer": ["linear"], "width": [4], "steps": [2], "n_train": [8], "levels": [[2]]}
    S.sweep("atlas", grid, [0, 1], tmp_path / "a.duckdb", serial=True, progress=False)
    again = S.sweep("atlas", grid, [0, 1], tmp_path / "a.duckdb", serial=True, progress=False)
    assert CLAIMS["resume_reruns"].check(again["ran"]) and again["skipped"] == 2


def test_attention_holds_in_the_shipped_atlas_on_every_seed():
    from memlab.chapters.ch19_memory_atlas import SHIPPED_RESULTS
    from memlab.data import DataError, load_path

    try:
        path = load_path(SHIPPED_RESULTS)
    except DataError as e:
        pytest.fail(str(e))
    recs = A.records(S.load(path))
    att = A.attention_min_acc(recs)
    assert len(att["per_seed"]) >= 3
    assert CLAIMS["attention_holds_as_pairs_grow"].check(min(att["per_seed"].values()))
