"""The config model the runtime uses: the classes of modeldef.py (where each field is defined and
documented), compiled at build time into plain classes by modelgen.py so that `create` does not pay
for importing attrs. Also structure(), load_spec() and evolve()."""
from ._model import *  # noqa: F401,F403 (the generated module lists its names in __all__)
