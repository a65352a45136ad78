"""Short-term ring buffer consolidated into a long-term bank (Flash-VStream / IXC2.5-OL).

Papers: Zhang et al., *Flash-VStream* (2024): a spatial memory of the most recent frames in
full detail beside a temporal memory compressed by weighted k-means; Zhang et al.,
*InternLM-XComposer2.5-OmniLive* (2024): "compress short-term memories into long-term ones for
efficient retrieval".

Glossary::

    STM   the last ``short_len`` frames, exact (a ring buffer)          self.short   [L_s, N, d]
    LTM   a :class:`~memlab.streaming.framebank.FrameBank` of ``long_budget`` entries
    consolidation   the frame leaving the ring buffer is written to the LTM, which compresses

    write(f_t):  ring.append(f_t); if |ring| > L_s: LTM.write(ring.pop_oldest())
    read(q):     the better of the STM read and the LTM read (position by position)

Not included: IXC2.5-OL's audio stream and its LLM reasoning module; Flash-VStream's abstract
(attention) and retrieved (key-frame) memories; learned compressors.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from memlab.streaming.framebank import FrameBank, _cos

__all__ = ["ShortLongMemory"]


class ShortLongMemory:
    """``write(frame [N, d])``, ``read(query)``, ``state_size()`` (bytes), ``reset()``."""

    def __init__(self, short_len: int = 16, long_budget: int = 48, long_policy: str = "malmm",
                 seed: int = 0):
        if short_len < 1:
            raise ValueError(f"short_len must be >= 1, got {short_len}")
        self.short_len = short_len
        self.long = FrameBank(long_budget, long_policy, seed=seed)
        self.reset()

    def reset(self) -> None:
        self.short: deque = deque()
        self.short_t: deque = deque()
        self.long.reset()
        self.n_seen = 0

    def write(self, frame: np.ndarray) -> None:
        frame = np.asarray(frame, dtype=float)
        if frame.ndim != 2:
            raise ValueError(f"frame must be [N, d], got shape {frame.shape}")
        self.short.append(frame)
        self.short_t.append(self.n_seen)
        self.n_seen += 1
        if len(self.short) > self.short_len:
            self.consolidate(self._evict())

    def _evict(self) -> np.ndarray:
        """The oldest short-term frame leaves the ring buffer."""
        self.short_t.popleft()
        return self.short.popleft()

    def consolidate(self, frame: np.ndarray) -> None:
        """Move one frame from short-term into the long-term bank."""
        self.long.write(frame)

    def write_stream(self, frames) -> ShortLongMemory:
        for f in frames:
            self.write(f)
        self.long.flush()
        return self

    def short_frames(self) -> np.ndarray:
        return np.stack(list(self.short)) if self.short else np.zeros((0, 0, 0))

    def read(self, query: np.ndarray) -> tuple[float, str]:
        """Mean over positions of the best token cosine, in STM or LTM: ``(score, where)``."""
        q = np.asarray(query, dtype=float)
        s_long = self.long.read(q)[0] if len(self.long) else -1.0
        s_short = float(_cos(self.short_frames(), q[None]).max(0).mean()) if self.short else -1.0
        return (s_short, "short") if s_short >= s_long else (s_long, "long")

    def state_size(self) -> int:
        return int(sum(f.nbytes for f in self.short)) + self.long.state_size()
