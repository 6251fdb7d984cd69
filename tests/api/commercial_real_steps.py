"""Registers the commercial on the built-in step models for test_commercial_api (a module of its
own, since ``settings.engine_modules`` loads a module's ``register``)."""

from tests.api.test_commercial_api import register_real_steps as register

__all__ = ["register"]
