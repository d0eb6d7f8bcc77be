"""Re-publish chosen dead letters of `customers_dlq` to the topic once their cause is fixed.

`python -m replay --help`; `make replay ARGS=...` against the local stack or, with
PROJECT=, the cloud. It runs from `.venv` or from the pipeline image.
"""
