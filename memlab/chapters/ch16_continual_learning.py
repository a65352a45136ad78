"""Chapter 16: continual learning (the weights as memory: replay, EWC, budgets in bytes)."""

from typing import ClassVar

from pydantic import field_validator

from memlab.chapters import Chapter, Mechanism
from memlab.params import ChapterParams, Field
from memlab.report import at_least, at_most


class Params(ChapterParams):
    epochs: int = Field(10, ge=1, le=200, description="passes over each task (Adam 1e-3, batch 16)")
    buffer_sizes: list[int] = Field([0, 10, 20, 50, 100, 200], min_length=2,
                                    description="ER buffer sizes (exemplars) in the budget sweep")
    ewc_lambda: float = Field(1000.0, ge=0.0, le=1e8,
                              description="EWC lambda on split digits (orders above library defaults)")
    ewc_lambda_permuted: float = Field(100.0, ge=0.0, le=1e8,
                                       description="EWC lambda on permuted digits")
    n_permuted: int = Field(3, ge=2, le=20, description="tasks in the permuted-digits stream")
    n_seeds: int = Field(3, ge=1, le=50, description="seeds for each claim's spread")

    @field_validator("buffer_sizes")
    @classmethod
    def _sizes(cls, v):
        if any(m < 0 for m in v) or sorted(v) != v or len(set(v)) != len(v):
            raise ValueError("must be distinct, increasing and >= 0")
        if 50 not in v:
            raise ValueError("must contain 50 (the ER claim is made at 50 exemplars)")
        return v

    FULL: ClassVar[dict] = {"epochs": 20, "buffer_sizes": [0, 10, 20, 50, 100, 200, 500, 1000],
                            "n_permuted": 10, "n_seeds": 10}


CHAPTER = Chapter(
    number="16",
    slug="continual_learning",
    title="Continual learning",
    summary="When the memory is the weights, writing is training and forgetting is what the next "
            "task's gradients do. Split digits (scikit-learn's bundled 8x8 digits): sequential "
            "fine-tuning forgets, reservoir replay of a few dozen exemplars keeps most of it, EWC "
            "protects task-incremental and permuted learning but not class-incremental, and a "
            "memory budget in bytes where the model itself costs about 590 exemplars.",
    Params=Params,
    mechanisms=(
        Mechanism("Reservoir exemplar buffer", "memlab.continual.buffer",
                  "M exemplars x 65 bytes", "Vitter 1985; Chaudhry et al. 2019"),
        Mechanism("Experience replay (ER)", "memlab.continual.learner",
                  "model bytes + M x 65 bytes", "Chaudhry et al. 2019"),
        Mechanism("Online EWC", "memlab.continual.ewc",
                  "2 x parameters (Fisher F, anchor theta*)", "Kirkpatrick et al. 2017; "
                  "Schwarz et al. 2018"),
        Mechanism("GeRe threshold-margin replay", "memlab.continual.gere",
                  "general samples + their activations h0 + 2 d thresholds", "Zhang et al. 2025"),
    ),
    claims={
        # class-IL, 5 tasks of 2 digits: sequential fine-tuning ends near one task's worth (0.2)
        "naive_cil_acc": at_most(0.25),
        # ER with 50 exemplars (3,250 bytes) keeps most of it (joint training: ~0.94)
        "er50_cil_acc": at_least(0.70),
        # accuracy rises with the buffer: ER at the largest size minus ER at 10 exemplars
        "er_buffer_gain": at_least(0.15),
        # EWC fails class-IL (near one task's worth, as Avalanche issue #697 says is expected)
        "ewc_cil_acc": at_most(0.35),
        # ... and keeps task-IL high
        "ewc_til_acc": at_least(0.90),
        # permuted digits (EWC's own benchmark): forgetting(naive) - forgetting(EWC)
        "ewc_permuted_forgetting_reduction": at_least(0.10),
        # each stream position kept with probability M/n: chi-square p-value of the counts
        "reservoir_inclusion_p": at_least(1e-3),
    },
)
