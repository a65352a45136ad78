"""Figures for chapter 15: a MINJA campaign round by round, attack success vs benign memory,
and the long run with and without lessons.

Each ``render_*`` is a plain function of its knobs returning a matplotlib Figure (tested
without a browser).
"""

from __future__ import annotations

import numpy as np

from memlab.viz import new_figure

__all__ = ["render_benign_sweep", "render_campaign", "render_long_run"]


def render_campaign(rounds_per_level: int = 3, n_benign: int = 0, guard: str = "none",
                    seed: int = 0):
    """The attack round by round: the indication prompt's length (bars) and whether the record
    the agent stored carries the bridge REMAP(v>t) (red) or not (grey)."""
    from memlab.security.experiments import minja_run

    r = minja_run(n_benign, guard, seed, rounds_per_level=rounds_per_level, n_queries=20)
    rounds = r["campaign"].rounds
    v, t = r["campaign"].v, r["campaign"].t
    extra = [len(q) - len(q.split("?")[0].split(".")[0]) - 1 for _, q, _, _ in rounds]
    fig, ax = new_figure(width=7, height=3.2)
    colors = ["tab:red" if inj else "tab:grey" for *_, inj in rounds]
    ax.bar(range(1, len(rounds) + 1), extra, color=colors)
    ax.scatter([], [], color="tab:red", marker="s", label=f"stored with REMAP({v}>{t})")
    ax.scatter([], [], color="tab:grey", marker="s", label="stored clean")
    ax.set(xlabel="attack round", ylabel="indication prompt (characters)",
           title=f"MINJA, {n_benign} benign records, defence: {guard}  |  ISR {r['isr']:.2f}, "
                 f"ASR {r['asr']:.2f}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def render_benign_sweep(sweep: dict, title: str = "MINJA attack success vs benign memory"):
    """``sweep``: ``{guard: {n_benign: asr}}``."""
    fig, ax = new_figure(width=6.5, height=3.4)
    for g, row in sweep.items():
        xs = sorted(row)
        ax.plot(xs, [row[x] for x in xs], "o-", label=g)
    ax.set_xscale("symlog", linthresh=10)
    ax.set(xlabel="benign records the agent wrote before the attack",
           ylabel="attack success rate (ASR)", ylim=(-0.03, 1.05), title=title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def render_long_run(runs: dict, title: str = "Long run: every answer is written back"):
    """``runs``: ``{label: [asr per cycle]}``."""
    fig, ax = new_figure(width=6.5, height=3.2)
    for label, asr in runs.items():
        ax.plot(np.arange(1, len(asr) + 1), asr, "o-", label=label)
    ax.set(xlabel="cycle (attack campaign + victims + users)", ylabel="ASR in the cycle",
           ylim=(-0.03, 1.05), title=title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig
