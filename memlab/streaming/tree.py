"""A SAM2Long-style memory tree over a toy 1-D tracker (greedy = one pathway).

Paper: Ding et al., *SAM2Long: Enhancing SAM 2 for Long Video Segmentation with a Training-Free
Memory Tree* (2024; code ``Mark12Ding/SAM2Long``, CC-BY-NC, read for reference only). The
algorithm here is the paper's, on a toy: a 1-D object instead of masks, a hand-written proposal
generator instead of SAM 2's decoder.

Glossary (paper -> variable)::

    P                    memory pathways kept                         P (default 3, the paper's)
    memory bank M_p      pathway p's memory: last position + velocity  Pathway.pos, Pathway.vel
    3 mask candidates    3 proposals per pathway and frame            proposals(...)
    predicted IoU_t      a proposal's confidence in (0, 1]            score
    S_p = sum_t log(IoU_t + eps)   cumulative score                   Pathway.cum
    occlusion score      "object absent": coast on the memory         the 'coast' proposal
    diverse hypotheses   keep branches whose positions differ >= delta   delta

The trap (the point of the toy): each pathway's proposals must be computed from **that
pathway's own memory** (the search is centred on its predicted position ``pos + vel``). A
greedy tracker that once accepts the look-alike distractor moves its memory onto it, and the
memory then keeps proposing the distractor: the early error propagates. Pathways keep the
alternative ("the target is occluded, coast") alive until the evidence separates them.

Per frame t and pathway p (memory pos_p, vel_p; prediction x_hat = pos_p + vel_p):

    detection j at x_j with appearance a_j:  score_j = clip((a_j + noise_tj)
                                                       * exp(-(x_j - x_hat)^2 / 2 sigma^2), eps, 1)
    proposals = the two best detections + coast (score s_occ, position x_hat)
    accept detection: vel <- (1 - beta) vel + beta (x_j - pos);  pos <- x_j
    accept coast:     pos <- pos + vel
    tree: expand P x 3 branches, S <- S + log(score + eps); keep the best by S, then the next
    best ones at least delta away from every kept one (diverse hypotheses), then fill by S.
    output: the pathway with the highest S at the end (its whole history).

Not included: SAM 2 itself (image encoder, memory attention, mask decoder); object-aware memory
selection and the IoU-modulated memory attention (range about [0.95, 1.05]); masks (positions
stand in for them). SAM2Long keeps the top P by score while confident and switches to diverse
hypotheses when every candidate is uncertain; in this toy two branches at the same position
are the same hypothesis, so near-duplicates are always merged (with masks, SAM 2's three
candidates differ; here two of them would often coincide and crowd the alternative out).
Constants sigma, s_occ, beta, delta are this toy's, not SAM2Long's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from memlab.tasks.streams import TrackingVideo, tracking_video

__all__ = [
    "MemoryTree",
    "Pathway",
    "TrackerConfig",
    "greedy_track",
    "hit_rate",
    "proposals",
    "tree_track",
]

EPS = 1e-4


@dataclass(frozen=True)
class TrackerConfig:
    sigma: float = 2.5        # width of the motion prior around the prediction
    s_occ: float = 0.5        # confidence of the "occluded, coast" proposal
    beta: float = 0.5         # velocity smoothing
    noise: float = 0.05       # std of the detector's confidence noise
    delta: float = 1.0        # positions at least this far apart count as diverse
    n_detections: int = 2     # detection proposals per pathway (+ 1 coast = 3 candidates)


@dataclass
class Pathway:
    pos: float
    vel: float = 0.0
    cum: float = 0.0
    history: list = field(default_factory=list)     # accepted positions (nan = coast)
    scores: list = field(default_factory=list)

    def copy(self) -> Pathway:
        return Pathway(self.pos, self.vel, self.cum, list(self.history), list(self.scores))


def detection_noise(video: TrackingVideo, noise: float, seed: int) -> list:
    """The detector's confidence noise, one draw per detection and frame (shared by pathways)."""
    rng = np.random.default_rng(seed)
    return [noise * rng.standard_normal(len(d)) for d in video.detections]


def proposals(mem: Pathway, dets: list, noise_t: np.ndarray, cfg: TrackerConfig) -> list:
    """The candidates a pathway's memory proposes: ``[(score, position, is_detection), ...]``,
    the ``cfg.n_detections`` best detections around ``mem.pos + mem.vel`` plus the coast."""
    x_hat = mem.pos + mem.vel
    cands = []
    for (x, a), n in zip(dets, noise_t):
        s = (a + n) * math.exp(-(x - x_hat) ** 2 / (2 * cfg.sigma ** 2))
        cands.append((min(1.0, max(EPS, s)), x, True))
    cands.sort(key=lambda c: -c[0])
    return cands[:cfg.n_detections] + [(cfg.s_occ, x_hat, False)]


def accept(mem: Pathway, cand, cfg: TrackerConfig) -> Pathway:
    """The pathway's memory after accepting one proposal (a new Pathway)."""
    score, x, is_det = cand
    new = mem.copy()
    if is_det:
        new.vel = (1 - cfg.beta) * mem.vel + cfg.beta * (x - mem.pos)
        new.pos = x
        new.history.append(x)
    else:
        new.pos = mem.pos + mem.vel
        new.history.append(float("nan"))
    new.cum = mem.cum + math.log(score + EPS)
    new.scores.append(score)
    return new


def greedy_track(video: TrackingVideo, cfg: TrackerConfig = TrackerConfig(), seed: int = 0):
    """One memory, the best proposal each frame (SAM 2's behaviour): the accepted positions."""
    noise = detection_noise(video, cfg.noise, seed)
    mem = Pathway(float(video.target[0]))
    for t in range(1, len(video.target)):
        cands = proposals(mem, video.detections[t], noise[t], cfg)
        mem = accept(mem, max(cands, key=lambda c: c[0]), cfg)
    return np.array([video.target[0]] + mem.history), mem


def _select(branches: list, P: int, cfg: TrackerConfig) -> list:
    """Keep P branches: the best cumulative score first, then the next best that sit at least
    ``delta`` from every kept one; slots left over are filled by cumulative score."""
    branches = sorted(branches, key=lambda b: -b.cum)
    kept = [branches[0]]
    for b in branches[1:]:
        if len(kept) == P:
            break
        if all(abs(b.pos - k.pos) >= cfg.delta for k in kept):
            kept.append(b)
    rest = [b for b in branches if all(b is not k for k in kept)]
    return sorted(kept + rest[:P - len(kept)], key=lambda b: -b.cum)


class MemoryTree:
    """P pathways, each with its own memory; ``step(detections, noise)`` per frame."""

    def __init__(self, start: float, P: int = 3, cfg: TrackerConfig = TrackerConfig()):
        if P < 1:
            raise ValueError(f"P must be >= 1, got {P}")
        self.P, self.cfg = P, cfg
        self.pathways = [Pathway(float(start))]
        self.trace: list = []        # per frame: the pathways' positions (for the widget)

    def step(self, dets: list, noise_t: np.ndarray) -> None:
        branches = [accept(p, c, self.cfg) for p in self.pathways
                    for c in proposals(p, dets, noise_t, self.cfg)]
        self.pathways = _select(branches, self.P, self.cfg)
        self.trace.append([p.pos for p in self.pathways])

    def best(self) -> Pathway:
        return max(self.pathways, key=lambda p: p.cum)

    # the Memory vocabulary: a frame's detections are written, the answer is read
    def write(self, dets: list, noise_t: np.ndarray) -> None:
        self.step(dets, noise_t)

    def read(self, query=None) -> float:
        """The current answer: the position of the pathway with the best cumulative score."""
        return self.best().pos

    def reset(self, start: float | None = None) -> None:
        self.pathways = [Pathway(float(self.pathways[0].pos if start is None else start))]
        self.trace = []

    def state_size(self) -> int:
        """Bytes of the pathways' memories (pos, vel, cum as float64; histories not counted)."""
        return 3 * 8 * len(self.pathways)


def tree_track(video: TrackingVideo, P: int = 3, cfg: TrackerConfig = TrackerConfig(),
               seed: int = 0):
    """SAM2Long: the best pathway's positions at the end, and the tree (for its trace)."""
    noise = detection_noise(video, cfg.noise, seed)
    tree = MemoryTree(video.target[0], P, cfg)
    for t in range(1, len(video.target)):
        tree.step(video.detections[t], noise[t])
    return np.array([video.target[0]] + tree.best().history), tree


def hit_rate(track: np.ndarray, video: TrackingVideo, radius: float = 1.0) -> float:
    """Fraction of the frames where the target is visible that the track is within ``radius``."""
    v = video.visible.copy()
    v[0] = False                                  # the prompt frame is given
    return float((np.abs(track[v] - video.target[v]) <= radius).mean())


def benchmark(n_videos: int = 200, P: int = 3, hard: bool = True, n_frames: int = 80,
              seed: int = 0, cfg: TrackerConfig = TrackerConfig()) -> dict:
    """Mean hit rate of greedy and of the P-pathway tree over random videos (``hard``: a
    look-alike crosses the target and an occlusion follows; otherwise neither)."""
    g, tr = [], []
    for i in range(n_videos):
        vid = tracking_video(n_frames, distractor=hard, occlusion=hard, seed=seed * 100_003 + i)
        g.append(hit_rate(greedy_track(vid, cfg, seed=i)[0], vid))
        tr.append(hit_rate(tree_track(vid, P, cfg, seed=i)[0], vid))
    return {"greedy": float(np.mean(g)), "tree": float(np.mean(tr)),
            "gain": float(np.mean(tr) - np.mean(g)), "per_video": (g, tr)}
