"""Chapter 02: memory networks (MemN2N, NTM-style addressing, LM2-style gated slots)."""

from typing import ClassVar

from pydantic import field_validator, model_validator

from memlab.chapters import Chapter, Mechanism
from memlab.params import ChapterParams, Field
from memlab.report import at_least, at_most


class Params(ChapterParams):
    n_train: int = Field(1000, ge=50, le=100_000, description="training stories per task (bAbI 1k)")
    n_test: int = Field(1000, ge=50, le=100_000, description="test stories per task")
    d: int = Field(20, ge=4, le=512, description="embedding size d (paper: 20)")
    hops: int = Field(3, ge=2, le=6, description="hops K of the main model (paper: 3)")
    task1_epochs: int = Field(20, ge=2, le=500, description="training epochs on task 1")
    task1_ls_epochs: int = Field(5, ge=0, le=100, description="of which linear start (no softmax)")
    task2_epochs: int = Field(30, ge=2, le=500, description="training epochs on task 2")
    task2_ls_epochs: int = Field(8, ge=0, le=100, description="of which linear start (no softmax)")
    lr: float = Field(0.01, gt=0.0, le=1.0, description="Adam learning rate (halved in linear start)")
    batch_size: int = Field(32, ge=1, le=4096, description="stories per batch (paper: 32)")
    pe: str = Field("paper", description="position encoding: 'paper', 'code' or 'none'")
    random_noise: float = Field(0.1, ge=0.0, le=1.0, description="RN: fraction of blank time slots")
    memory_size: int = Field(50, ge=10, le=1000, description="most recent sentences kept (paper: 50)")
    n_seeds: int = Field(3, ge=1, le=20, description="seeds per claim for the printed seed spread")
    babi_folder: str = Field("", description="a real bAbI folder (qa1_*_train.txt ...); '' generates")

    @field_validator("pe")
    @classmethod
    def _pe(cls, v):
        from memlab.slots.memn2n import PE_FORMS

        if v not in PE_FORMS:
            raise ValueError(f"must be one of {PE_FORMS}")
        return v

    @model_validator(mode="after")
    def _ls_fits(self):
        for t in (1, 2):
            ls, ep = getattr(self, f"task{t}_ls_epochs"), getattr(self, f"task{t}_epochs")
            if ls >= ep:
                raise ValueError(f"task{t}_ls_epochs={ls} must be below task{t}_epochs={ep}")
        return self

    # bAbI 10k, longer training, more seeds (about half an hour on a CPU; set babi_folder to
    # read the real tasks, e.g. tasks_1-20_v1-2/en-10k)
    FULL: ClassVar[dict] = {"n_train": 10_000, "task1_epochs": 40, "task1_ls_epochs": 10,
                            "task2_epochs": 60, "task2_ls_epochs": 15, "n_seeds": 5}


CHAPTER = Chapter(
    number="02",
    slug="memory_networks",
    title="Memory networks",
    summary="A slot memory written explicitly and read by soft attention over several hops: "
            "MemN2N on bAbI-lite (one and two supporting facts, where each hop looks), "
            "NTM-style content and location addressing with erase/add writes, and an "
            "LM2-style gated slot memory.",
    Params=Params,
    mechanisms=(
        Mechanism("End-to-end memory network (MemN2N)", "memlab.slots.memn2n",
                  "(K + 1) * M * d (m, c per slot and hop, adjacent tying)",
                  "Sukhbaatar et al. 2015"),
        Mechanism("NTM-style content and location addressing, erase/add", "memlab.slots.ntm",
                  "N * W (slots M)", "Graves et al. 2014"),
        Mechanism("LM2-style gated slot memory", "memlab.slots.lm2", "N * d (slot bank M)",
                  "Kang et al. 2025 (interpretation)"),
    ),
    claims={
        # MemN2N (3 hops, PE, TE, RN, LS) test accuracy on bAbI-lite task 1
        "task1_accuracy": at_least(0.95),
        # negative control: the same model with temporal encoding removed (a bag of sentences)
        "task1_no_temporal_acc": at_most(0.8),
        # negative control: the trained task-1 model read with its memory order shuffled
        "task1_shuffled_acc": at_most(0.8),
        # task 2: accuracy(3 hops) - accuracy(1 hop), same training
        "task2_hop_gain": at_least(0.25),
        # task 2, 3 hops: fraction of correct answers where every supporting fact is some
        # hop's argmax
        "task2_attention_on_support": at_least(0.7),
        # a property of the data: "last location mentioned" shortcut on task 2 (a count)
        "task2_shortcut_acc": at_most(0.35),
        # NTM key-value store: fraction of 32 random unit-key pairs (d = 32) read back (<1% err)
        "ntm_recall": at_least(1.0),
        # rewrite a key with e = 1: relative error of the read vs the NEW value
        "ntm_rewrite_erase": at_most(1e-6),
        # ... with e = 0: relative error vs old + new (the sum, as linear attention)
        "ntm_rewrite_add": at_most(1e-6),
        # e = 0, a = v, weighting w_t = k_t: relative difference to chapter 04's S = sum k v^T
        "ntm_equals_outer_product": at_most(1e-12),
        # LM2 gate identities (freeze, overwrite, output gate off, mixed): max abs error
        "lm2_gate_algebra": at_most(1e-12),
    },
)
