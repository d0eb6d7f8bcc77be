"""`python -m localrun.local_pipeline ARGS`: `python -m pipeline ARGS` as the local stack runs it.

The one difference: Beam's direct-runner Pub/Sub read gets `EmulatorSubscriberClient`, whose
channel takes messages up to Pub/Sub's 10 MB like the real service's, which pulls up to 100
messages per bundle instead of 10 (see localrun/pubsub_channel.py) and acknowledges a pull only
once it is written; SIGTERM drains the process (localrun/drain.py). Nothing on Dataflow runs it.
"""

from __future__ import annotations

import logging

from localrun import drain, pubsub_channel
from pipeline.main import run

if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    pubsub_channel.install()
    drain.install()
    run()
