"""The benchmark corpus handed to the FnApiRunner's in-process worker by reference.

`beam.Create(messages)` pickles and bz2-compresses the whole corpus into the pipeline proto when
the pipeline is submitted, about 450 us of CPU per 1 KB message on the benchmark machine: more
than every step but the sinks, so it dilutes every ratio toward 1.0. This module lives apart
from `pipeline_bench` (which runs as `__main__`, and cloudpickle pickles `__main__` functions by
value, globals included) so that `elements` is pickled by reference and the corpus never enters
the proto. It works only with the embedded, in-process worker the benchmark uses.
"""

from collections.abc import Iterator
from typing import Any

CORPORA: dict[str, list[Any]] = {}


def elements(_impulse: bytes, key: str) -> Iterator[Any]:
    yield from CORPORA[key]
