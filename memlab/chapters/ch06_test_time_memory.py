"""Chapter 06: learning to memorise at test time (Titans, ATLAS, PERK, Nested Learning)."""

from typing import Any, ClassVar

from memlab.chapters import Chapter, Mechanism
from memlab.params import ChapterParams, Field
from memlab.report import at_least, at_most


class Params(ChapterParams):
    d_key: int = Field(32, ge=4, le=1024, description="key / value dimension d of the memory")
    n_batch: int = Field(16, ge=1, le=4096, description="independent streams per experiment")
    stream_len: int = Field(512, ge=64, le=1_000_000,
                            description="writes in the changing-values stream (forgetting claim)")
    n_keys: int = Field(32, ge=2, le=4096, description="distinct keys in the changing-values stream")
    value_period: int = Field(128, ge=8, le=1_000_000,
                              description="steps between two redraws of every key's value")
    theta_slow: float = Field(0.02, gt=0.0, lt=1.0,
                              description="step size theta of the forgetting experiment")
    alpha_forget: float = Field(0.01, gt=0.0, lt=1.0,
                                description="forgetting gate alpha (compared with no forgetting)")
    needle_distractors: int = Field(256, ge=16, le=1_000_000,
                                    description="familiar writes after the needle")
    needle_theta: float = Field(0.05, gt=0.0, lt=1.0,
                                description="step size theta in the needle experiment")
    needle_eta: float = Field(0.9, gt=0.0, lt=1.0,
                              description="momentum eta (compared with plain steps, no momentum)")
    omega_window: int = Field(4, ge=2, le=64,
                              description="Omega window c (also the writes per noisy pair)")
    omega_noise: float = Field(1.0, ge=0.0, le=10.0, description="norm of the value noise per write")
    bench_len: int = Field(1024, ge=64, le=1_000_000,
                           description="sequence length of the chunk-vs-loop timing")
    perk_full: bool = Field(False, description="meta-train PERK and the in-context reader "
                            "(about two minutes on one CPU thread)")
    cms_slow_chunk: int = Field(16, ge=1, le=4096,
                                description="update period C of the continuum memory's slow level")
    FULL: ClassVar[dict[str, Any]] = {"d_key": 64, "n_batch": 64, "stream_len": 4096,
                                      "n_keys": 64, "value_period": 256,
                                      "needle_distractors": 16384, "bench_len": 8192,
                                      "perk_full": True}


CHAPTER = Chapter(
    number="06",
    slug="test_time_memory",
    title="Learning to memorise at test time",
    summary="Titans' neural long-term memory: a small network trained during inference by "
            "gradient 'surprise' with momentum and a forgetting gate (linear and MLP memories, "
            "token-by-token and chunk-parallel), memory as context with persistent tokens, and "
            "ATLAS's Omega rule that fits a window of recent tokens; PERK's test-time LoRA and "
            "Nested Learning's continuum memory (levels at different update frequencies).",
    Params=Params,
    mechanisms=(
        Mechanism("Titans neural long-term memory (linear / MLP, momentum, forgetting)",
                  "memlab.testtime.titans",
                  "H * P * (2 + [chunk > 1]) numbers (M, S, chunk anchor); P = memory "
                  "parameters, d_k * d_v for a linear memory",
                  "Behrouz, Zhong, Mirrokni 2024"),
        Mechanism("Titans memory as context (MAC) + persistent memory tokens",
                  "memlab.testtime.mac",
                  "memory state + (segment_len - 1) * d_model pending tokens",
                  "Behrouz, Zhong, Mirrokni 2024"),
        Mechanism("Titans memory as a gate (MAG) / as a layer (MAL), sliding-window attention",
                  "memlab.testtime.mag_mal",
                  "memory state + (window - 1) * d_model cached inputs",
                  "Behrouz, Zhong, Mirrokni 2024"),
        Mechanism("ATLAS Omega rule (sliding-window objective)", "memlab.testtime.omega",
                  "H * P * 2 + (c - 1) * H * (d_k + d_v) (memory + window of c - 1 pairs)",
                  "Behrouz et al. 2025"),
        Mechanism("PERK test-time LoRA (frozen LM + adapter trained on the context)",
                  "memlab.testtime.perk",
                  "r * (d_in + d_out) per adapted layer (the LoRA factors); the context is not kept",
                  "Chen, Romanou, Weiss, Bosselut 2025"),
        Mechanism("Nested Learning continuum memory system (HOPE's levels)",
                  "memlab.testtime.nested",
                  "2 * levels * d_k * d_v (each level's memory + its gradient accumulator)",
                  "Behrouz, Razaviyayn, Zhong, Mirrokni 2025"),
    ),
    claims={
        # linear Titans, eta = alpha = 0, theta = beta / 2 == delta rule (float64)
        "delta_rule_rel_err": at_most(1e-10),
        # chunk-parallel form == its token loop (same chunk size, float32)
        "chunk_form_rel_err": at_most(1e-4),
        # recall of recent pairs with alpha > 0 minus with alpha = 0 (values change)
        "forgetting_recall_gain": at_least(0.15),
        # needle recall with momentum minus plain steps, same theta
        "momentum_needle_gain": at_least(0.4),
        # mean read-out error of Omega (window c) / delta rule (c = 1) on noisy writes
        "omega_error_ratio": at_most(0.9),
        # PERK: batched inner loop == per-example, per-segment loop (float64)
        "perk_inner_loop_rel_err": at_most(1e-10),
        # PERK: context LM loss after 16 small inner steps / before (the write stores the context)
        "perk_write_loss_ratio": at_most(0.9),
        # CMS: error just after an interruption, fast + slow levels / one fast level
        "cms_return_error_ratio": at_most(0.6),
    },
)
