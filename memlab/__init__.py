"""memlab: a lab bench for memory in AI.

Readable reference implementations of memory mechanisms (``memlab.<family>``), one shared
vocabulary (:mod:`memlab.memory`), and the plumbing that turns chapter notebooks into
parameterised, reproducible reports (:mod:`memlab.params`, :mod:`memlab.report`).
"""

__version__ = "0.1.0"

from memlab.device import resolve_device, seed_everything  # noqa: E402,F401
from memlab.memory import Memory, SequenceMemory  # noqa: E402,F401
from memlab.viz import register_png_formatter as _register_png_formatter  # noqa: E402

_register_png_formatter()
