"""Adapters that turn foreign inputs into Tocsin events."""
