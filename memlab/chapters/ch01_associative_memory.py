"""Chapter 01: associative memory (classical and modern Hopfield, Kanerva SDM, Sparsey SDRs)."""

from typing import Any, ClassVar

from memlab.chapters import Chapter, Mechanism
from memlab.params import ChapterParams, Field
from memlab.report import at_least, at_most, between


class Params(ChapterParams):
    n_neurons: int = Field(200, ge=50, le=5000,
                           description="neurons N of the classical Hopfield net (capacity sweep)")
    cue_noise: float = Field(0.10, ge=0.0, le=0.5,
                             description="fraction of bits flipped in every cue")
    # the sweep must pass the target's upper end (0.20) and the ~0.17 crossing at N = 200,
    # else the recall never drops below 0.5 and the critical load cannot be measured
    load_max: float = Field(0.25, ge=0.25, le=0.5,
                            description="largest load P/N of the sweep (it starts at 0.05)")
    load_points: int = Field(21, ge=5, le=101, description="loads in the capacity sweep")
    trials: int = Field(3, ge=1, le=100, description="independent nets per load")
    energy_runs: int = Field(50, ge=1, le=10000,
                             description="random nets in the energy-never-increases check")
    modern_dim: int = Field(64, ge=8, le=4096,
                            description="dimension d of the modern net (it stores 10 d patterns)")
    beta_large: float = Field(1.0, gt=0.0, le=1000.0,
                              description="inverse temperature beta for retrieval")
    beta_small: float = Field(0.1, gt=0.0, le=1000.0,
                              description="small beta (about 6/d): metastable mixtures of patterns")
    sdm_dim: int = Field(256, ge=16, le=4096, description="word length n of Kanerva's SDM")
    sdm_locations: int = Field(2000, ge=10, le=1_000_000,
                               description="hard locations M of Kanerva's SDM")
    sdr_items: int = Field(20, ge=1, le=1000,
                           description="inputs stored one-shot in the Sparsey-style code field")
    resonance_dim: int = Field(64, ge=16, le=4096,
                               description="state dimension d of the Synaptic Resonance memory")
    resonance_filler: int = Field(1000, ge=0, le=1_000_000,
                                  description="irrelevant filler states streamed between the pairs")

    FULL: ClassVar[dict[str, Any]] = {
        "n_neurons": 1000, "trials": 4, "energy_runs": 500,
        "modern_dim": 256, "beta_small": 0.025,            # keep beta_small * d ~ 6.4
        "sdm_dim": 1000, "sdm_locations": 20000,
        "resonance_dim": 256, "resonance_filler": 4000}


CHAPTER = Chapter(
    number="01",
    slug="associative_memory",
    title="Associative memory",
    summary="Content-addressable memory: the classical Hopfield net (Hebbian writes, "
            "attractor reads, capacity ~0.14 N), the modern Hopfield net whose one-step "
            "softmax read is attention, Kanerva's sparse distributed memory, and "
            "Sparsey-style sparse distributed codes.",
    Params=Params,
    mechanisms=(
        Mechanism("Classical Hopfield network", "memlab.associative.hopfield",
                  "N^2 (weights W)", "Hopfield 1982"),
        Mechanism("Modern (dense) Hopfield network", "memlab.associative.modern",
                  "P * d (stored patterns X)", "Ramsauer et al. 2020"),
        Mechanism("Sparse distributed memory", "memlab.associative.sdm",
                  "M * n (counters C)", "Kanerva 1988"),
        Mechanism("Sparsey-style sparse distributed codes", "memlab.associative.sdr",
                  "n_in * Q * K (binary weights F)", "Rinkus 2010, 2014; Rinkus & Leveille 2017"),
        Mechanism("Synaptic Resonance (relevance-gated Hebbian; our interpretation)",
                  "memlab.associative.resonance", "d^2 + d (weights W, previous state)",
                  "Exploring Synaptic Resonance in LLMs (2025); interpretation, no public code"),
    ),
    claims={
        # load P/N where fewer than half the patterns return with overlap >= 0.95
        # (10%-noisy cues); theory 0.138 for N -> inf, finite N pushes it up (~0.17 at N=200)
        "critical_load": between(0.10, 0.20),
        # control where the dynamics matter: clean cues (noise 0), critical load after ONE
        # synchronous step minus after iterating to a fixed point (~0.28 - ~0.20 at N = 200)
        "one_step_minus_fixed_point_load": at_least(0.04),
        # fraction of P = 10 d patterns recalled (overlap >= 0.95) in ONE update at beta_large
        "modern_recall_10N": at_least(0.99),
        # 500 real digits, beta = 20: softmax mass on the cued digit's class while the read
        # still mixes several digits (participation 2 .. n/2): a metastable state
        "digits_metastable_class_mass": at_least(0.80),
        # an IDENTITY, not an empirical claim: max relative error, modern update vs torch
        # scaled_dot_product_attention (float64); it fails only if the code is wrong
        "modern_equals_attention": at_most(1e-10),
        # largest energy change over every single async update of energy_runs random nets
        "energy_max_increase": at_most(0.0),
        # Kanerva SDM: words stored at half recall per hard location (n=256, p=0.01)
        "sdm_capacity_per_location": between(0.025, 0.10),
        # Pearson correlation, input similarity vs code overlap of the Sparsey-style codes
        "sdr_overlap_tracks_similarity": at_least(0.80),
        # Synaptic Resonance (our interpretation): each cue is followed once by its relevant
        # target and once by an irrelevant one, among resonance_filler filler states; recall
        # of the relevant target with the gate (r_t from the context), and its margin over the
        # control with r_t constant (the same mean: plain Hebbian learning, which blurs them)
        "resonance_gated_recall": at_least(0.85),
        "resonance_gating_gain": at_least(0.5),
    },
)
