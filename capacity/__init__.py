"""`make capacity`: workers and monthly cost of the pipeline at a rate, from our own benchmark.

Beam-free: plain arithmetic (`model`) over the prices in `prices.toml` (`prices`) and the CPU a
message costs in `bench/results/pipeline.json`, printed by `table`.
"""
