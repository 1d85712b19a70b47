"""Fixtures for the SMTP transport tests: one CA per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tocsin.testing import TestCA


@pytest.fixture(scope="module")
def ca() -> Iterator[TestCA]:
    with TestCA() as test_ca:
        yield test_ca
