"""The benchmark corpus handed to the FnApiRunner's in-process worker by reference.

From `beam.Create(messages)` Beam's identity scenario costs ~700 us of CPU per 1 KB message on
the benchmark machine, ~450 us of it pickling and bz2-compressing the whole corpus into the
pipeline proto at submission; from here it costs 4 us. That cost, the same in every scenario,
is more than every step but the sinks, so it dilutes every ratio toward 1.0. This module lives apart
from `pipeline_bench` (which runs as `__main__`, and cloudpickle pickles `__main__` functions by
value, globals included) so that `elements` is pickled by reference and the corpus never enters
the proto. It works only with the embedded, in-process worker the benchmark uses.
"""

from collections.abc import Iterator
from typing import Any

CORPORA: dict[str, list[Any]] = {}


def elements(_impulse: bytes, key: str) -> Iterator[Any]:
    yield from CORPORA[key]
