"""Synthetic streams for chapter 18: scene/event frame streams, toy tracking videos, a grid house.

Everything is generated from a seed (no video, no simulator):

- :func:`scene_stream` -- a long "video" of frame features ``[T, N, d]`` (N spatial tokens of
  dimension d): piecewise-constant scenes plus noise, with rare single-frame *events* (a small
  object that is visible in one frame only: the scene plus a weak extra direction).
- :func:`tracking_video` -- a 1-D target moving smoothly, optionally a look-alike distractor that
  crosses it and an occlusion of the target right after the crossing, plus clutter detections.
- :func:`grid_house` -- rooms on a grid, receptacles in rooms, objects on receptacles; the
  objects move between tasks (household changes), requests follow a Zipf law.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["House", "SceneStream", "TrackingVideo", "grid_house", "scene_stream", "tracking_video"]


def _check(name: str, value, lo, hi=None):
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{name} must be {rng}, got {value}")


@dataclass
class SceneStream:
    frames: np.ndarray          # [T, N, d] float64
    scene_of: np.ndarray        # [T] scene id of each frame
    scenes: np.ndarray          # [S, N, d] the clean scene templates (unit-norm tokens)
    starts: np.ndarray          # [S] first frame of each scene
    event_frames: np.ndarray    # [E] frame index of each event
    events: np.ndarray          # [E, N, d] unit direction of each event, per token
    event_amp: float


def scene_stream(n_frames: int = 2000, n_tokens: int = 16, d: int = 32, n_scenes: int = 20,
                 n_events: int = 10, noise: float = 0.15, event_amp: float = 0.5,
                 seed: int = 0) -> SceneStream:
    """Scenes of random lengths (each >= half the mean), unit-norm random tokens per scene.

    frame_t = scene_{s(t)} + noise * eps_t   (eps ~ N(0, I) per coordinate), and at an event frame
    also + event_amp * e (e: unit random direction per token). The event is weak next to the
    noise norm (noise * sqrt(d) per token), so the event frame *looks like* its scene.
    """
    _check("n_frames", n_frames, 2)
    _check("n_scenes", n_scenes, 1, n_frames)
    _check("n_events", n_events, 0, n_frames - 1)
    _check("noise", noise, 0.0)
    rng = np.random.default_rng(seed)
    mean = n_frames / n_scenes
    lengths = rng.uniform(0.5, 1.5, n_scenes)
    lengths = np.maximum(1, np.round(lengths / lengths.sum() * n_frames)).astype(int)
    lengths[-1] += n_frames - lengths.sum()
    if lengths[-1] < max(1, int(0.25 * mean)):
        lengths = np.full(n_scenes, n_frames // n_scenes)
        lengths[-1] += n_frames - lengths.sum()
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    scene_of = np.repeat(np.arange(n_scenes), lengths)
    scenes = rng.standard_normal((n_scenes, n_tokens, d))
    scenes /= np.linalg.norm(scenes, axis=-1, keepdims=True)
    frames = scenes[scene_of] + noise * rng.standard_normal((n_frames, n_tokens, d))
    # events: not in the first/last frame of a scene, well apart from each other
    event_frames = np.sort(rng.choice(np.arange(1, n_frames - 1), n_events, replace=False))
    events = rng.standard_normal((n_events, n_tokens, d))
    events /= np.linalg.norm(events, axis=-1, keepdims=True)
    frames[event_frames] += event_amp * events
    return SceneStream(frames, scene_of, scenes, starts, event_frames, events, event_amp)


@dataclass
class TrackingVideo:
    target: np.ndarray          # [T] true target position
    distractor: np.ndarray      # [T] distractor position (nan where absent)
    visible: np.ndarray         # [T] bool, target visible
    detections: list            # per frame: list of (position, appearance similarity to the target)
    crossing: int               # frame where the distractor crosses the target (-1: none)


def tracking_video(n_frames: int = 80, distractor: bool = True, occlusion: bool = True,
                   occlusion_len: int = 10, look_alike: float = 0.8, clutter: int = 1,
                   seed: int = 0) -> TrackingVideo:
    """A 1-D tracking toy. The target drifts with a smooth random velocity; the distractor (a
    look-alike, appearance similarity ``look_alike`` to the target) moves the other way and
    crosses the target at frame ``crossing`` (about a quarter in); the target is occluded for
    ``occlusion_len`` frames starting the frame after the crossing. ``clutter`` random
    detections per frame look unlike the target (similarity 0.1-0.3)."""
    _check("n_frames", n_frames, 10)
    _check("occlusion_len", occlusion_len, 0, n_frames)
    _check("look_alike", look_alike, 0.0, 1.0)
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.8, 1.2) * rng.choice([-1, 1])
    wobble = 0.05 * np.cumsum(rng.standard_normal(n_frames))
    target = v * np.arange(n_frames) + wobble
    cross = int(n_frames // 4 + rng.integers(-2, 3)) if distractor else -1
    dist = np.full(n_frames, np.nan)
    if distractor:
        vd = -v * rng.uniform(0.6, 1.0)
        dist = target[cross] + vd * (np.arange(n_frames) - cross) + 0.1
    visible = np.ones(n_frames, bool)
    if occlusion:
        o0 = (cross if cross >= 0 else n_frames // 4) + 1
        visible[o0:o0 + occlusion_len] = False
    dets = []
    lo, hi = target.min() - 10, target.max() + 10
    for t in range(n_frames):
        d = []
        if visible[t]:
            d.append((float(target[t] + 0.1 * rng.standard_normal()), 1.0))
        if distractor:
            d.append((float(dist[t] + 0.1 * rng.standard_normal()), look_alike))
        for _ in range(clutter):
            d.append((float(rng.uniform(lo, hi)), float(rng.uniform(0.1, 0.3))))
        dets.append(d)
    return TrackingVideo(target, dist, visible, dets, cross)


@dataclass
class House:
    rooms: list[str]
    doors: list[tuple[str, str]]                    # room adjacency
    receptacles: dict[str, str]                     # receptacle -> room
    objects: dict[str, str] = field(default_factory=dict)   # object -> receptacle (true state)
    popularity: np.ndarray | None = None            # request probabilities of the objects


def grid_house(rows: int = 3, cols: int = 3, receptacles_per_room: int = 2, n_objects: int = 12,
               seed: int = 0) -> House:
    """Rooms on a ``rows x cols`` grid with doors between neighbours, named receptacles in each
    room, ``n_objects`` objects placed on random receptacles. Requests follow Zipf(1)."""
    _check("rows", rows, 1)
    _check("cols", cols, 1)
    _check("receptacles_per_room", receptacles_per_room, 1)
    _check("n_objects", n_objects, 1)
    rng = np.random.default_rng(seed)
    rooms = [f"room{r}{c}" for r in range(rows) for c in range(cols)]
    doors = []
    for r in range(rows):
        for c in range(cols):
            if c + 1 < cols:
                doors.append((f"room{r}{c}", f"room{r}{c + 1}"))
            if r + 1 < rows:
                doors.append((f"room{r}{c}", f"room{r + 1}{c}"))
    recs = {f"{room}_rec{i}": room for room in rooms for i in range(receptacles_per_room)}
    names = list(recs)
    objects = {f"obj{i}": names[rng.integers(len(names))] for i in range(n_objects)}
    pop = 1.0 / np.arange(1, n_objects + 1)
    return House(rooms, doors, recs, objects, pop / pop.sum())
