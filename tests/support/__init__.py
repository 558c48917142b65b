"""Helpers the test suite shares: real services started for the tests (PostgreSQL)."""
