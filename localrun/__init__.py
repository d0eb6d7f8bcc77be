"""The local stack: real emulators, resources and the end-to-end run behind `make run` and the tests."""
