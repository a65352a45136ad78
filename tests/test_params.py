import pytest

from memlab.chapters import all_chapters, get_chapter
from memlab.params import ChapterParams, Field, ParameterError


class P(ChapterParams):
    n_neurons: int = Field(200, ge=100, le=2000, description="neurons N")
    noise: float = Field(0.1, ge=0.0, le=0.5, description="flip fraction")
    FULL = {"n_neurons": 1000}


def test_defaults_and_build():
    p = P.build({})
    assert (p.n_neurons, p.noise, p.device, p.seed) == (200, 0.1, "auto", 0)
    assert P.build({"n_neurons": 300}).n_neurons == 300


def test_out_of_range_names_parameter_value_and_range():
    with pytest.raises(ParameterError) as e:
        P.build({"n_neurons": 5})
    msg = str(e.value)
    assert "'n_neurons'" in msg and "5" in msg and "100 <= value <= 2000" in msg


def test_unknown_parameter_suggests_closest():
    with pytest.raises(ParameterError, match=r"unknown parameter 'n_nuerons'.*did you mean 'n_neurons'"):
        P.build({"n_nuerons": 300})


def test_wrong_type_rejected():
    with pytest.raises(ParameterError, match="n_neurons"):
        P.build({"n_neurons": "many"})
    with pytest.raises(ParameterError, match="n_neurons"):
        P.build({"n_neurons": 200.5})


def test_device_and_seed_validated():
    with pytest.raises(ParameterError, match="device"):
        P.build({"device": "tpu"})
    with pytest.raises(ParameterError, match="seed"):
        P.build({"seed": -1})
    assert P.build({"device": "CUDA"}).device == "cuda"


def test_from_namespace_requires_every_field():
    with pytest.raises(ParameterError, match="does not define noise"):
        P.from_namespace({"n_neurons": 200, "device": "auto", "seed": 0})
    ns = {"n_neurons": 300, "noise": 0.2, "device": "cpu", "seed": 3, "unrelated": object()}
    assert P.from_namespace(ns).n_neurons == 300


def test_profiles():
    assert P.profile("quick") == {}
    assert P.profile("full") == {"n_neurons": 1000}
    with pytest.raises(ParameterError, match="profile"):
        P.profile("huge")


@pytest.mark.parametrize("ch", all_chapters(), ids=lambda c: c.notebook)
def test_every_chapter_full_profile_is_valid(ch):
    ch.Params.build(ch.Params.profile("full"))
    ch.Params.build({})


def test_get_chapter_lookup():
    ch = get_chapter("00")
    assert get_chapter(0) is ch or get_chapter(0) == ch
    assert get_chapter("notebooks/00_start.ipynb") == ch
    with pytest.raises(KeyError, match="no chapter"):
        get_chapter("99")


def test_cross_field_errors_read_plainly():
    from pydantic import model_validator

    class Q(ChapterParams):
        k: int = Field(4, ge=1)
        n: int = Field(8, ge=1)

        @model_validator(mode="after")
        def _k_le_n(self):
            if self.k > self.n:
                raise ValueError(f"k={self.k} must not exceed n={self.n}")
            return self

    with pytest.raises(ParameterError, match="not allowed together: .*k=9 must not exceed n=8"):
        Q.build({"k": 9})


@pytest.mark.parametrize("ch", all_chapters(), ids=lambda c: c.notebook)
def test_every_full_profile_is_valid_and_scales_something_up(ch):
    """`memlab report --profile full` must not fail on its own parameters, and must differ from
    the quick defaults (a FULL dict that lost its entries would silently rerun the quick size)."""
    full = ch.Params.FULL
    unknown = set(full) - set(ch.Params.names())
    assert not unknown, f"{ch.notebook}: FULL names unknown parameters {sorted(unknown)}"
    p = ch.Params.build(full)
    defaults = ch.Params.defaults()
    changed = {k for k in full if getattr(p, k) != defaults[k]}
    assert changed - {"device"}, f"{ch.notebook}: the full profile changes nothing"
