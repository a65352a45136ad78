"""Chapter 05: state-space memory (HiPPO/LSSL, S4D, Mamba, a B'MOJO-style hybrid)."""

from pydantic import model_validator

from memlab.chapters import Chapter, Mechanism
from memlab.params import ChapterParams, Field
from memlab.report import at_least, at_most


class Params(ChapterParams):
    hippo_N: int = Field(16, ge=2, le=256, description="state numbers N of HiPPO-LegS and of the EMA bank")
    hippo_T: int = Field(500, ge=50, le=20000, description="length T of the history read back")
    hippo_max_cycles: float = Field(4.0, gt=0, le=50, description="the test signals have up to this many periods over T")
    s4d_T: int = Field(256, ge=16, le=65536, description="sequence length of the S4D convolution-vs-recurrence check")
    copy_seq_len: int = Field(32, ge=8, le=4096, description="selective copying: sequence length")
    copy_n_tokens: int = Field(4, ge=1, le=64, description="selective copying: data tokens to copy")
    copy_vocab: int = Field(8, ge=4, le=512, description="selective copying: vocabulary (2 special tokens)")
    d_model: int = Field(16, ge=4, le=1024, description="width of the tiny LM")
    d_state: int = Field(8, ge=2, le=256, description="SSM state numbers N per channel (even)")
    n_layers: int = Field(2, ge=1, le=12, description="layers of the tiny LM")
    probe_seq_len: int = Field(64, ge=8, le=8192, description="selection probe: sequence length")
    probe_n_tokens: int = Field(4, ge=1, le=16, description="selection probe: data tokens, at most d_state")
    train_steps: int = Field(300, ge=1, le=100000, description="training steps per model")
    batch_size: int = Field(32, ge=1, le=4096, description="training batch size")
    lr: float = Field(1e-2, gt=0, le=1.0, description="AdamW learning rate")
    memmamba_distance: int = Field(128, ge=16, le=16384,
                                   description="MemMamba passkey: the farthest passkey distance")
    memmamba_samples: int = Field(320, ge=50, le=100000,
                                  description="MemMamba passkey: sequences per distance (60% fit the read-out)")
    memmamba_p_rare: float = Field(0.005, ge=0.0, le=0.2,
                                   description="MemMamba passkey: rate of salient distractor tokens")

    @model_validator(mode="after")
    def _fits_together(self):
        if self.d_state % 2:
            raise ValueError(f"d_state={self.d_state} must be even: the LTI S4D comparison "
                             f"keeps N/2 complex modes per channel (use {self.d_state + 1})")
        if self.probe_n_tokens > self.d_state:
            raise ValueError(f"probe_n_tokens={self.probe_n_tokens} must be at most "
                             f"d_state={self.d_state}: the probe's read-out needs N >= tokens")
        for n, L in (("probe_n_tokens", "probe_seq_len"), ("copy_n_tokens", "copy_seq_len")):
            if 2 * getattr(self, n) > getattr(self, L):
                raise ValueError(f"{n}={getattr(self, n)} data tokens plus as many copy "
                                 f"markers need {L} >= {2 * getattr(self, n)}, got "
                                 f"{getattr(self, L)}")
        return self

    # the trained selective-copying comparison at the Mamba paper's task size (length 4096,
    # 16 data tokens, vocabulary 16, 2 layers of width 64, N = 16), far fewer steps than the
    # paper; its accuracies are recorded (copy_acc_selective / copy_acc_s4d), not asserted
    FULL = {  # noqa: RUF012 - a ClassVar of ChapterParams
        "hippo_N": 64, "hippo_T": 4000, "s4d_T": 8192, "probe_seq_len": 512,
        "copy_seq_len": 4096, "copy_n_tokens": 16, "copy_vocab": 16, "d_model": 64,
        "d_state": 16, "n_layers": 2, "train_steps": 4000, "batch_size": 32, "lr": 3e-3,
        "memmamba_distance": 1024, "memmamba_samples": 2000}


CHAPTER = Chapter(
    number="05",
    slug="state_space_memory",
    title="State-space memory",
    summary="A fixed-size state that remembers a continuous history (HiPPO-LegS, LSSL), the same "
            "LTI state as a convolution (S4D), and a state that chooses what to keep (Mamba's "
            "selective scan); plus a fading + eidetic hybrid (B'MOJO-style).",
    Params=Params,
    mechanisms=(
        Mechanism("HiPPO-LegS online projection", "memlab.ssm.hippo", "N (Legendre coefficients)",
                  "Gu et al. 2020; LSSL, Gu et al. 2021"),
        Mechanism("S4D diagonal SSM", "memlab.ssm.s4d", "H * N (N/2 complex modes per channel)",
                  "Gu et al. 2022"),
        Mechanism("Mamba selective scan / block", "memlab.ssm.mamba",
                  "d_inner * N + d_inner * (d_conv - 1)", "Gu & Dao 2023"),
        Mechanism("B'MOJO-style fading + eidetic hybrid", "memlab.ssm.bmojo",
                  "Mamba state + d + (W - 1 + M) * (2d + 1)", "Zancato et al. 2024"),
        Mechanism("MemMamba note pool + cross-token attention", "memlab.ssm.memmamba",
                  "Mamba state + K * (2 d_note + 1) + 1 (notes as keys, values, priorities)",
                  "Wang et al. 2025"),
    ),
    claims={
        "hippo_vs_ema_error_ratio": at_least(10.0),
        # conv == recurrence is self-consistency only (a shared discretisation error passes):
        "s4d_conv_vs_recurrence_rel_err": at_most(1e-9),
        # ... so the discretisations are pinned to closed forms: HiPPO ZOH / bilinear (N = 1, 2),
        # S4D ZOH / bilinear A_bar, B_bar and kernel, Mamba's ZOH B_bar (max relative error)
        "discretization_closed_form_err": at_most(1e-12),
        # Mamba Theorem 1 (selection = gating): N = 1, A = -1, B = C = 1, Delta = softplus(z):
        # the scan with ZOH for B equals h = (1 - g) h + g x, g = sigmoid(z) (Euler: off by ~1)
        "mamba_theorem1_zoh_err": at_most(1e-12),
        # selective copying, the mechanism: the same SSM + fitted linear read-out, Delta set by
        # hand to depend on the token (selective) or constant (LTI, best of a grid)
        "selection_probe_selective_acc": at_least(0.99),
        "selection_probe_lti_acc": at_most(0.85),
        # MemMamba's diagnosis on a random-init Mamba block: attribution ||dy_T/dx_s|| of the
        # token 256 back over the token 16 back (exponential fading: ~0.02-0.05 measured)
        "memmamba_attribution_ratio": at_most(0.1),
        # passkey at memmamba_distance, untrained Mamba + fitted ridge read-out of its state:
        # accuracy minus chance (plain Mamba has lost the key) ...
        "memmamba_plain_far_above_chance": at_most(0.1),
        # ... and the same model with its note block (notes + cross-token attention) minus it
        "memmamba_notes_gain": at_least(0.15),
    },
)
