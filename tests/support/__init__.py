"""Test support code: real servers for the test suite (see ``services``)."""
