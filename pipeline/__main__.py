"""`python -m pipeline --help` lists the parameters."""

import logging

from pipeline.main import run

logging.getLogger().setLevel(logging.INFO)
run()
