"""Build and load lstmkit's C++ kernels for the CPU, once per machine.

The sources in this directory are compiled with ``torch.utils.cpp_extension`` (a C++
compiler and ninja) the first time they are needed, into a cache directory, and loaded as
a library that registers the operators ``torch.ops.lstmkit.rnn`` (with ``rnn_variant``,
``rnn_fwd``, ``rnn_bwd``), ``cell`` (one step), the layer-normalised ``ln_fwd`` / ``ln_bwd``,
``linear`` and ``product`` (the large products) and ``keep_mask`` (hashed dropout masks).
Later processes reuse the cached build; ninja rebuilds it when a source or a flag changes.

The build is tuned for the CPU it runs on (``-march=native``). A build directory is only
valid for one kind of CPU, so its name carries a fingerprint of the CPU model and its
instruction-set flags (and of the Python and torch versions and of the sources themselves):
a cache that moves to another machine, a home directory shared by different machines, or two
versions of lstmkit installed side by side, never load a binary built for something else.

If the build fails, :func:`available` warns once (one line) and returns False; lstmkit then
uses its other implementations.

The kernels keep the memory of their large tensors when those are freed (memory.h), up to
512 MB, for their next calls: :func:`memory_kept` says how much waits, :func:`empty_cache`
hands it back to the system.

Environment:
    LSTMKIT_CACHE_DIR: where builds go (default ``~/.cache/lstmkit``).

Example:
    >>> isinstance(available(), bool)
    True
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import warnings
from pathlib import Path
from types import ModuleType

import torch

from . import fakes

NAME = "lstmkit_cpu"
HERE = Path(__file__).resolve().parent
SOURCES = (
    "ops.cpp",
    "layer.cpp",
    "forward.cpp",
    "backward.cpp",
    "products.cpp",
    "memory.cpp",
    "ln_loop.cpp",
    "ln_ops.cpp",
    "bindings.cpp",
)

_status: dict[str, object] = {}  # "ok": bool, "error": str, after the first attempt


def cpu_fingerprint() -> str:
    """Model name and instruction-set flags of this CPU (Linux), or what platform knows."""
    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "flags", "Features", "CPU part") and key not in fields:
                    fields[key] = value.strip()
    except OSError:
        pass
    parts = [platform.machine(), platform.processor()]
    return "|".join(parts + [f"{key}={value}" for key, value in sorted(fields.items())])


def build_flags() -> list[str]:
    """Compiler flags: -O3, -march=native where the compiler and CPU family take it, and
    -fopenmp on Linux (torch's OpenMP runtime runs the threads of a time loop: without it
    ``at::parallel_for`` compiled into the library runs everything on one thread)."""
    flags = ["-O3", "-fno-math-errno"]
    if sys.platform != "win32" and platform.machine().lower() in ("x86_64", "amd64", "aarch64"):
        flags.append("-march=native")
    if sys.platform.startswith("linux"):
        flags.append("-fopenmp")
    return flags


def source_digest() -> str:
    """Digest of the C++ sources and headers, so each version of lstmkit gets its own build."""
    digest = hashlib.sha256()
    for path in sorted([*HERE.glob("*.cpp"), *HERE.glob("*.h")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def build_key() -> str:
    """Identifies a build: the sources, CPU, flags, Python and torch versions."""
    parts = [source_digest(), cpu_fingerprint(), " ".join(build_flags()), sys.version]
    text = "\n".join([*parts, torch.__version__])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_dir(key: str | None = None) -> Path:
    """Where the build with ``key`` (default: this one's, :func:`build_key`) goes."""
    root = os.environ.get("LSTMKIT_CACHE_DIR") or Path.home() / ".cache" / "lstmkit"
    return Path(root) / f"cpu-{key or build_key()}"


def build(
    sources: list[Path] | None = None,
    name: str = NAME,
    build_directory: Path | None = None,
    verbose: bool = False,
) -> ModuleType:
    """Compile (if needed) and load the library; raises whatever the build raises.

    Returns it as a Python module (bindings.cpp); loading it registers the operators."""
    from torch.utils.cpp_extension import load

    key = build_key()  # reads every source and /proc/cpuinfo: once
    directory = Path(build_directory or cache_dir(key))
    directory.mkdir(parents=True, exist_ok=True)
    paths = [str(p) for p in (sources or [HERE / s for s in SOURCES])]
    return load(
        name=name,
        sources=paths,
        extra_cflags=[*build_flags(), f"-DLSTMKIT_BUILD_KEY={key}"],
        extra_ldflags=[flag for flag in build_flags() if flag == "-fopenmp"],
        build_directory=str(directory),
        is_python_module=True,
        verbose=verbose,
    )


def available() -> bool:
    """True once the kernels are built and loaded; builds them on the first call.

    A failed build warns once and is not retried in the same process.
    """
    if "ok" not in _status:
        if sys.stderr.isatty():
            print("lstmkit: building the fused CPU kernels (once)...", file=sys.stderr)
        try:
            _status["module"] = build()
            fakes.register()
            from .. import fused_ln  # its operators' autograd and fakes need the library

            fused_ln.register()
            _status["ok"] = True
        except Exception as err:  # any failure of the toolchain means: not available
            _status.update(ok=False, error=_first_line(err))
            warnings.warn(
                f"lstmkit: the fused CPU kernels could not be built ({_status['error']}); "
                "using the other implementations instead",
                RuntimeWarning,
                stacklevel=2,
            )
    return bool(_status["ok"])


def module() -> ModuleType:
    """The library as a Python module (built and loaded first if need be): its ``cell`` is
    ``torch.ops.lstmkit.cell`` without the operator call's argument conversion, and its
    ``quick_cell`` the one-step kernel alone (bindings.cpp), for eager code; tracers need
    the operator. Raises RuntimeError where the kernels could not be built."""
    if not available():
        raise RuntimeError(f"lstmkit: the fused CPU kernels are not built ({_status['error']})")
    return _status["module"]


def memory_kept() -> int:
    """Bytes the kernels keep in freed blocks for their next large tensors (outputs, saved
    activations, scratch; at most 512 MB), 0 when the kernels are not loaded.

    Example:
        >>> memory_kept() >= 0
        True
    """
    return int(_status["module"].memory_kept()) if _status.get("ok") else 0


def empty_cache() -> None:
    """Hand the kept blocks back to the system, as ``torch.cuda.empty_cache()`` does for
    CUDA's cached memory. Tensors still in use keep their blocks.

    Example:
        >>> empty_cache()
        >>> memory_kept()
        0
    """
    if _status.get("ok"):
        _status["module"].empty_cache()


@torch.compiler.assume_constant_result
def loaded() -> bool:
    """True when the kernels are already loaded; unlike :func:`available`, never builds.

    Tracers take the answer as a constant (the masks it chooses between are the same)."""
    return bool(_status.get("ok"))


def _first_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[0] if lines else 'no message'}"[:200]
