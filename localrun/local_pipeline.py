"""`python -m localrun.local_pipeline ARGS`: `python -m pipeline ARGS` as the local stack runs it.

Three differences, all for Beam's direct runner: its Pub/Sub read gets `EmulatorSubscriberClient`,
whose channel takes messages up to Pub/Sub's 10 MB like the real service's, which pulls up to 100
messages per bundle instead of 10 and acknowledges a pull only once it is written
(localrun/pubsub_channel.py); SIGTERM drains the process (localrun/drain.py); and deduplication is
`LocalDeduplicate`, the same contract without keyed state, whose cost per row does not grow with
the customers seen (localrun/local_dedupe.py). Nothing on Dataflow runs this module.
"""

from __future__ import annotations

import logging
import sys

from localrun import drain, pubsub_channel
from localrun.local_dedupe import LocalDeduplicate, check_runner
from pipeline.main import run

if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    refused = check_runner(sys.argv[1:])
    if refused:
        sys.exit(f"python -m localrun.local_pipeline: error: {refused}")
    pubsub_channel.install()
    drain.install()
    run(deduplicate=LocalDeduplicate)
