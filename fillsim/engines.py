"""Which engine runs: the Cython extension unless FILLSIM_PUREPYTHON=1, never a silent fallback."""
import os

__all__ = ["ENGINE", "engine_class"]

#: "cython" (default) or "python" (env FILLSIM_PUREPYTHON=1); reported by the service's /health.
ENGINE = "python" if os.environ.get("FILLSIM_PUREPYTHON") == "1" else "cython"


def engine_class(name: str | None = None):
    """The ``Engine`` class of ``name`` ("cython" or "python"; default: ``ENGINE``).

    Raises ImportError when the extension is asked for and not built: falling back to the
    reference would make everything 100x slower without anyone noticing.
    """
    name = name or ENGINE
    if name == "python":
        from .reference import Engine
        return Engine
    if name != "cython":
        raise ValueError(f"engine must be 'cython' or 'python', got {name!r}")
    try:
        from ._engine import Engine
    except ImportError as exc:
        raise ImportError(
            "fillsim's Cython extension (fillsim._engine) is not built: run `pip install -e .` or "
            "`python setup.py build_ext --inplace`, or set FILLSIM_PUREPYTHON=1 to choose the "
            "pure-Python reference on purpose") from exc
    return Engine
