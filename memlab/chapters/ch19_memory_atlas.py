"""Chapter 19: the memory atlas (every sequence memory on one benchmark, swept on Ray)."""

from typing import ClassVar

from pydantic import field_validator

from memlab.chapters import Chapter, Mechanism
from memlab.params import ChapterParams, Field
from memlab.report import at_least, at_most

#: the shipped medium atlas (``make atlas-medium`` regenerates it; see data/README.md)
SHIPPED_RESULTS = "atlas_medium.parquet"


class Params(ChapterParams):
    results: str = Field("", description="results table of a sweep (DuckDB or Parquet); empty "
                                          "for the medium atlas shipped in data/")
    mixers: list[str] = Field(["attention", "linear", "delta"], min_length=1,
                              description="mixers of the small atlas computed in the notebook")
    width: int = Field(16, ge=4, le=512, description="model width d_model of the small atlas")
    steps: int = Field(60, ge=1, le=100_000, description="training steps per point of the small atlas")
    workers: int = Field(0, ge=0, le=512, description="0: run the small atlas in this process; "
                                                       "N: on a local Ray instance with N workers")

    @field_validator("mixers")
    @classmethod
    def _known(cls, v):
        from memlab.atlas.registry import registry

        bad = [m for m in v if m not in registry()]
        if bad:
            raise ValueError(f"unknown mixers {bad}; use some of {sorted(registry())}")
        return v

    FULL: ClassVar[dict] = {"mixers": ["attention", "linear", "delta", "gated_delta", "s4d",
                                       "mamba", "titans"], "width": 32, "steps": 2000,
                            "workers": 4}


CHAPTER = Chapter(
    number="19",
    slug="memory_atlas",
    title="The memory atlas",
    summary="Every sequence memory of the library on the same tasks (MQAR, needle, selective "
            "copying), trained at several widths and seeds: accuracy against the state in "
            "bytes, family by family, with seed spreads and each family's frontier; the "
            "sweep runs on Ray (local, or a cluster by address) into one DuckDB table.",
    Params=Params,
    mechanisms=(
        Mechanism("Atlas registry and state bytes", "memlab.atlas.registry",
                  "state_size(T) numbers x itemsize bytes, per sequence", "Arora et al. 2023 (Zoology)"),
        Mechanism("Ray sweep with a resumable results table", "memlab.sweep",
                  "none (one table row per parameters x seed x revision)", "Moritz et al. 2018 (Ray)"),
    ),
    claims={
        # from the results table: attention's lowest MQAR accuracy over the pair counts, at the
        # widest width, the worst seed (its KV cache grows with the context)
        "attention_holds_as_pairs_grow": at_least(0.9),
        # state bytes of every small-atlas model vs the hand formula (numbers x 4 bytes for
        # float32; 2 d T numbers for attention): the largest relative error
        "state_bytes_match_formula": at_most(0.0),
        # a re-run of the small atlas: points it trained again (all were done) -- a count
        "resume_reruns": at_most(0.0),
    },
)
