"""Chapter 14: experiential and procedural memory (agents that learn from their own trajectories)."""

from typing import ClassVar

from memlab.chapters import Chapter, Mechanism
from memlab.params import ChapterParams, Field
from memlab.report import at_least, at_most, between


class Params(ChapterParams):
    n_apps: int = Field(12, ge=2, le=200, description="apps in AppWorld-lite")
    n_steps: int = Field(4, ge=2, le=8, description="API calls per app procedure")
    n_episodes: int = Field(300, ge=100, le=20000, description="tasks in one agent lifetime")
    drift_at: int = Field(100, ge=10, le=19000, description="episode at which some apps change")
    drift_frac: float = Field(0.3, ge=0.0, le=1.0, description="fraction of apps that change one call")
    window: int = Field(100, ge=20, le=5000, description="last episodes scored after the drift")
    p_weak: float = Field(0.5, ge=0.0, le=1.0, description="weak solver: P(right call)")
    p_strong: float = Field(0.8, ge=0.0, le=1.0, description="strong solver: P(right call)")
    top_k: int = Field(5, ge=1, le=50, description="experiences retrieved per task")
    freq_threshold: int = Field(3, ge=1, le=100, description="ReMe F: uses before a verdict")
    utility_threshold: float = Field(0.5, ge=0.0, le=1.0, description="ReMe U: prune below this success rate")
    n_seeds: int = Field(3, ge=1, le=50, description="seeds per claim (spread printed)")
    # TokMem-lite (procedure tokens on a frozen char transformer)
    tok_new: int = Field(5, ge=2, le=12, description="TokMem: new procedures learned one after another")
    tok_steps: int = Field(200, ge=10, le=200, description="TokMem: Adam steps per new procedure")
    tok_train: int = Field(128, ge=8, le=4096, description="TokMem: training examples per procedure")
    tok_pretrain_steps: int = Field(800, ge=100, le=20000, description="TokMem: backbone pre-training steps")
    tok_d: int = Field(64, ge=16, le=512, description="TokMem: backbone width d (a multiple of 4)")
    tok_shared_backbone: bool = Field(True, description="TokMem: one backbone (seed) for all seeds' runs")

    # more seeds at the claim's horizon (change at 100, scored 100-200 episodes after it). NOT a
    # later change or more apps: the gain shrinks with the stable history before the change
    # (cumulative counters keep stale veterans alive). Measured over seeds 0-9, change at 200,
    # last 200 of 600 episodes: +0.077, under the 0.10 target; change at 300: +0.08 / +0.06 /
    # +0.02 / -0.02 in the four windows of 100 after it. The notebook measures this live.
    # TokMem: all 12 compositions, a backbone pre-trained per seed, longer pre-training
    FULL: ClassVar[dict] = {"n_seeds": 10, "tok_new": 12, "tok_pretrain_steps": 1600,
                            "tok_shared_backbone": False}


CHAPTER = Chapter(
    number="14",
    slug="experiential_memory",
    title="Experiential and procedural memory",
    summary="Agents that get better with use: a ReMe-style experience pool distilled from the "
            "agent's own trajectories (success, failure and comparative insights), read by "
            "scenario similarity, credited by use and pruned by utility; and a JARVIS-1 / "
            "Memory-R episodic kNN plan memory with its novelty reward. A procedure drifts "
            "mid-stream: append-only memory goes stale, the refined pool recovers. TokMem: "
            "procedures as trainable tokens on a frozen backbone, learned one after another "
            "without forgetting where full fine-tuning forgets.",
    Params=Params,
    mechanisms=(
        Mechanism("ReMe experience pool", "memlab.experience.pool",
                  "1 row per validated insight (+ d-float scenario vector), pruned by utility",
                  "ReMe (Remember Me, Refine Me), 2025"),
        Mechanism("Episodic kNN plan memory", "memlab.experience.knn",
                  "<= 1000 keys x d + <= 50 plan vectors per key", "JARVIS-1, 2023; Memory-R (Reasoning Under 1 Billion), 2025"),
        Mechanism("TokMem procedure tokens", "memlab.experience.tokmem",
                  "d floats per procedure (one embedding row), frozen backbone shared",
                  "TokMem, ICLR 2026"),
    ),
    claims={
        # success over the last `window` episodes (after the drift), mean over seeds:
        # utility-refined pool minus append-only pool (same world, stream and solver)
        "refined_minus_append_late": at_least(0.10),
        # final pool size, refined / append-only (mean over seeds)
        "refined_pool_ratio": at_most(0.9),
        # weak solver (p = 0.5) + refined pool minus strong solver (p = 0.8) without memory
        "weak_memory_minus_strong": at_least(0.2),
        # negative control: utility credited at random loses the refined pool's gain
        "refined_minus_random_credit": at_least(0.05),
        # negative control: utility never credited (delete after F uses, useful or not) costs
        # success BEFORE the change, in the drift_at/2 episodes before it
        "refined_minus_no_utility_early": at_least(0.1),
        # negative control (an identity): U = 0 never prunes = append-only, episode by episode
        "u0_vs_append_max_diff": between(0.0, 0.0),
        # kNN plan memory: success over the last 100 minus the first 100 episodes
        "knn_lifetime_rise": at_least(0.15),
        # ... while the memoryless solver stays flat (|last 100 - first 100|)
        "nomem_lifetime_rise_abs": at_most(0.1),
        # TokMem, tok_new procedures learned one after another (mean over seeds):
        # min over every stored procedure (8 base + new) of accuracy after all / accuracy
        # before (base) or just after it was learned (new)
        "tokmem_retention_min": at_least(0.9),
        # sequential full fine-tuning: first new procedure's accuracy just learned - after all
        "finetune_first_drop": at_least(0.30),
        # mean just-learned accuracy minus the best untrained token's (fresh row or any stored
        # token) on the same procedure
        "tokmem_minus_untrained": at_least(0.5),
    },
)
