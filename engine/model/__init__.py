"""The kernel layer: pure numba physiology, the model's declarations and random numbers.

Every engine kernel module imports this package first, so the engine's numba cache locator
(keyed on the engine's sources, for the engine's files only; see engine.runtime) is in place
before any kernel is decorated."""

from ..runtime import register_cache_locator

register_cache_locator()
