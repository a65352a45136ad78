"""Chapter 17: memorisation and editing (the weights as a memory of facts)."""

from typing import ClassVar

from pydantic import model_validator

from memlab.chapters import Chapter, Mechanism
from memlab.params import ChapterParams, Field
from memlab.report import at_least, at_most


class Params(ChapterParams):
    n_facts: int = Field(2000, ge=100, le=20000, description="facts in the linear memory")
    n_edits: int = Field(300, ge=20, le=5000, description="sequential edits (WISE paper: 1,000)")
    key_dim: int = Field(1024, ge=64, le=4096, description="key (activation) size d_k")
    save_freq: int = Field(10, ge=1, le=1000, description="WISE: save a shard every N edits")
    merge_freq: int = Field(20, ge=1, le=2000, description="WISE: TIES-merge shards every N edits")
    n_seeds: int = Field(3, ge=1, le=50, description="seeds for each claim's spread")
    lm_pretrain_steps: int = Field(200, ge=50, le=20000,
                                   description="tiny LM: pre-training updates on the grammar")
    retain_updates: int = Field(100, ge=100, le=5000,
                                description="later-training updates after study (retention)")

    @model_validator(mode="after")
    def _sizes(self):
        if 2 * self.n_edits > self.n_facts:
            raise ValueError("n_edits must be at most n_facts / 2")
        if self.merge_freq % self.save_freq:
            raise ValueError("merge_freq must be a multiple of save_freq")
        return self

    FULL: ClassVar[dict] = {"n_edits": 1000, "key_dim": 2048, "n_seeds": 5,
                            "lm_pretrain_steps": 1000, "retain_updates": 500}


CHAPTER = Chapter(
    number="17",
    slug="memorisation_unlearning",
    title="Memorisation, editing and unlearning",
    summary="The weights as a memory of facts. A tiny language model studies novel facts 1, 3 "
            "or 10 times: recall needs repetition, and fades under later training faster than "
            "recognition does. Then how to rewrite one fact after another without "
            "breaking the rest. A linear associative memory of 2,000 facts takes hundreds of "
            "sequential edits: fine-tuning loses locality, ROME's rank-one edits lose it more "
            "slowly, an exact-key codebook loses generalisation, and WISE-lite's routed side "
            "memory (activation margins, a routing threshold, TIES-merged shards) keeps "
            "reliability, generalisation and locality together. Unlearning: saturation-"
            "reweighted gradient ascent forgets a tenth of a memoriser's facts with the rest "
            "intact, where plain gradient ascent wrecks them.",
    Params=Params,
    mechanisms=(
        Mechanism("Recognition / recall / retention", "memlab.parametric.exposure",
                  "a 49k-parameter n-gram LM; the facts live in its weights",
                  "Orhan 2023 (eminorhan/llm-memory)"),
        Mechanism("WISE-lite routed side memory", "memlab.parametric.wise_side",
                  "one d_v x d_k side copy per merged group of shards", "Wang et al. 2024 (WISE)"),
        Mechanism("TIES merge", "memlab.parametric.wise",
                  "merges task vectors in place", "Yadav et al. 2023"),
        Mechanism("ROME rank-one edit", "memlab.parametric.wise",
                  "C^-1 (d_k x d_k) once, then rank one per edit", "Meng et al. 2022"),
        Mechanism("Loss-reweighted unlearning", "memlab.parametric.unlearning",
                  "no extra memory (a retrained reference for evaluation)",
                  "SatImp (ICML 2025, tmlr-group/SatImp)"),
    ),
    claims={
        # tiny LM, 50 novel facts studied E times: 2AFC recognition by loss after 10 exposures
        "recognition_10x": at_least(0.9),
        # recall needs repetition: greedy recall after 10 exposures minus after 1
        "recall_gain_1_to_10": at_least(0.5),
        # E = 10, after 100 later updates: chance-corrected fraction of recognition kept minus
        # that of recall (reference plan: >= 0.2)
        "retention_gap": at_least(0.2),
        # WISE-lite after n_edits: min(reliability, generalisation, locality)
        "wise_triangle": at_least(0.9),
        # min over the three metrics, WISE minus the best baseline (FT, ROME, codebook)
        "wise_gap_over_best_baseline": at_least(0.15),
        # fine-tuning the main memory loses locality
        "ft_locality": at_most(0.2),
        # the exact-key codebook loses generalisation
        "codebook_generalisation": at_most(0.2),
        # negative control: routing threshold 0 sends every key to the side memory
        "eps0_locality": at_most(0.3),
        # TIES merge of three task vectors against a hand-computed result
        "ties_hand_error": at_most(1e-12),
        # unlearning (a memoriser MLP, 10% of persons forgotten): SimSat + retain CE reaches
        # forget recall <= 0.1 (from 1.0) ...
        "reweighted_forget_recall": at_most(0.1),
        # ... with bounded damage to the retained facts
        "reweighted_retain_drop": at_most(0.1),
        # plain GA, stopped at the same forget recall, damages the retained facts more
        "ga_extra_retain_damage": at_least(0.3),
        # negative control: weights not detached, the forget set is barely touched
        "nodetach_forget_recall": at_least(0.5),
    },
)
