"""The local stack behind `make run` and the tests: real emulators, resources, the run."""
