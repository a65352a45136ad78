"""The memory atlas: every ``SequenceMemory`` of the library on one benchmark (chapter 19).

Zoology (Arora et al. 2023, "Zoology: Measuring and Improving Recall in Efficient Language
Models") put a handful of mixers side by side on multi-query associative recall (MQAR) and
plotted accuracy against the state size; the atlas does the same for every sequence memory
memlab has, on the same tasks, at the same training budget, with seeds.

Pieces:

* :mod:`memlab.atlas.registry`: every ``SequenceMemory`` of the library (configured ones
  classified as input-dependent or time-invariant; any other subclass joins by existing), and
  the state in bytes, ``state_bytes = sum_layers state_size(T) x itemsize(dtype)``;
* :mod:`memlab.atlas.suite`: the task suite (MQAR at several pair counts, needle at several
  depths, selective copying), one small trainer configuration per task, and
  :func:`~memlab.atlas.suite.run_point`, the experiment a sweep runs;
* :mod:`memlab.atlas.analysis`: seed spreads, each family's Pareto frontier in
  (state bytes, accuracy), and the chapter's two comparisons;
* :mod:`memlab.sweep`: the grid x seeds on Ray, into one DuckDB table.

Glossary: *point* = (mixer, width d_model, task, seed); *level* = a task's difficulty knob
(MQAR pairs n, needle depth, number of tokens to copy); *state bytes* = the memory one
sequence needs after T tokens (T = the task's length); *frontier* = the points of a family that
no point of the same family beats with less or equal state.

Not included: Zoology's learning-rate grid and multi-layer models, and the chapters' other
memories (``Memory`` stores such as Hopfield nets or agent stores are not sequence mixers).
"""

from memlab.atlas.registry import Entry, state_bytes, state_numbers

__all__ = ["Entry", "state_bytes", "state_numbers"]
