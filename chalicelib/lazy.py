"""A module imported at its first attribute access, for the entry points' heavier
dependencies: app.py registers every blueprint in every function, and a pixel's cold
start should not pay for the JSON API's services, templating and mail
(docs/DESIGN.md, "Cold start"). The consumer keeps a plain import under TYPE_CHECKING,
so that types and the import contracts see the dependency as it is."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """``name``, loaded when one of its attributes is first read (importlib's
    LazyLoader); the module already imported when it is."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module
