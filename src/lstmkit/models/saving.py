"""Model files: one zip archive of strict JSON and safetensors, written atomically.

``model.save(path)`` writes a single file holding

* ``model.json``: format, version, the model's architecture and its compile settings;
* ``weights.safetensors``: every parameter and buffer;
* ``optimizer.json`` + ``optimizer.safetensors``: the optimizer's class, hyper-parameters
  and state (its tensors in safetensors, the rest in JSON).

Nothing is pickled, so loading an untrusted file cannot run code. The archive is
written to a temporary file in the same directory and renamed into place with
``os.replace``: an interrupted save leaves the previous file intact.

Example:
    >>> import os, tempfile, torch
    >>> from lstmkit.models import Sequential, load_model
    >>> from lstmkit.layers import Dense
    >>> model = Sequential([Dense(2, input_shape=(3,))])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.lstmkit")
    >>> model.save(path)
    >>> x = torch.randn(4, 3)
    >>> torch.equal(load_model(path)(x), model(x))
    True
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import Tensor, nn

from . import encoding
from .distributed import is_main

FORMAT = "lstmkit.model"
VERSION = 1


# -- archives --------------------------------------------------------------------------------
def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_archive(path: str | os.PathLike, entries: dict[str, bytes]) -> None:
    """A zip archive of ``entries`` at ``path``, written atomically."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    write_atomic(path, buffer.getvalue())


def read_archive(path: str | os.PathLike, what: str = "model file") -> dict[str, bytes]:
    """Every entry of an archive written by :func:`write_archive`, checked to be one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what}: no file at {str(path)!r}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{what}: {str(path)!r} is not an lstmkit file (not a zip archive)")
    try:
        with zipfile.ZipFile(path) as zf:
            return {name: zf.read(name) for name in zf.namelist()}
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ValueError(f"{what}: {str(path)!r} is corrupt ({err})") from err


def entry(entries: dict[str, bytes], name: str, what: str) -> bytes:
    if name not in entries:
        raise ValueError(f"{what}: the file has no {name!r}; it is damaged or not a {what}")
    return entries[name]


def tensors_to_bytes(tensors: dict[str, Tensor]) -> bytes:
    return safetensors.torch.save(
        {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    )


def tensors_from_bytes(data: bytes, what: str) -> dict[str, Tensor]:
    try:
        return safetensors.torch.load(data)
    except Exception as err:  # safetensors raises its own error type for any corruption
        raise ValueError(f"{what}: the tensors are corrupt ({err})") from err


def header(data: bytes, kind: str, what: str) -> dict[str, Any]:
    """The JSON header of an lstmkit file, checked for its format and version."""
    meta = encoding.loads(data, what)
    if not isinstance(meta, dict) or meta.get("format") != kind:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{what}: expected format {kind!r}, got {got!r}")
    if meta.get("version") != VERSION:
        raise ValueError(
            f"{what}: format version {meta.get('version')!r}; this lstmkit reads version {VERSION}"
        )
    return meta


# -- weights --------------------------------------------------------------------------------
def load_state(module: nn.Module, state: dict[str, Tensor], what: str) -> None:
    """``load_state_dict`` with a clear message naming missing, unexpected or misshapen keys."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}")
        for k in shapes[:5]:
            parts.append(f"{k}: file {tuple(state[k].shape)}, model {tuple(own[k].shape)}")
        raise ValueError(f"{what}: the weights do not fit this model: " + "; ".join(parts))
    module.load_state_dict(state)


def save_weights(model: nn.Module, path: str | os.PathLike) -> None:
    """Every parameter and buffer as one safetensors file (rank 0 only under torchrun)."""
    if is_main():
        write_atomic(path, tensors_to_bytes(model.state_dict()))


def load_weights(model: nn.Module, path: str | os.PathLike) -> None:
    """Load a file written by :func:`save_weights` into a model of the same architecture."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file: no file at {str(path)!r}")
    state = tensors_from_bytes(path.read_bytes(), "weights file")
    device = next(iter(model.state_dict().values()), torch.empty(0)).device
    load_state(model, {k: v.to(device) for k, v in state.items()}, "weights file")


# -- optimizer ------------------------------------------------------------------------------
def optimizer_entries(opt: torch.optim.Optimizer) -> dict[str, bytes]:
    from .optimizers import describe

    tree, tensors = encoding.encode({"optimizer": describe(opt), "state": opt.state_dict()})
    return {
        "optimizer.json": encoding.dumps(tree),
        "optimizer.safetensors": tensors_to_bytes(tensors),
    }


def optimizer_from_entries(entries: dict[str, bytes], what: str) -> tuple[dict, dict]:
    """(description, state_dict) of the optimizer stored in ``entries``."""
    tree = encoding.loads(entry(entries, "optimizer.json", what), what)
    tensors = tensors_from_bytes(entry(entries, "optimizer.safetensors", what), what)
    data = encoding.decode(tree, tensors)
    return data["optimizer"], data["state"]


# -- whole models ---------------------------------------------------------------------------
def save_model(model: Any, path: str | os.PathLike, include_optimizer: bool = True) -> None:
    """Write ``model`` (architecture, weights, compile settings, optimizer) to ``path``."""
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "class": type(model).__name__,
        "config": model.get_config(),
        "compile": None,
    }
    entries: dict[str, bytes] = {}
    if include_optimizer and model.compiled is not None:
        meta["compile"] = model.compiled.to_json()
        if model.optimizer is not None:
            entries.update(optimizer_entries(model.optimizer))
    try:
        meta_bytes = encoding.dumps(meta)
    except (TypeError, ValueError) as err:
        raise ValueError(f"model: the configuration cannot be stored as JSON ({err})") from err
    entries["model.json"] = meta_bytes
    entries["weights.safetensors"] = tensors_to_bytes(model.state_dict())
    if is_main():
        write_archive(path, entries)


def load_model(
    path: str | os.PathLike,
    custom_objects: dict[str, type] | None = None,
    compile: bool = True,
) -> Any:
    """The model stored at ``path``, on the CPU, compiled as it was when saved.

    Args:
        custom_objects: custom Layer classes by name, for models that use them.
        compile: restore the compile settings and optimizer state, if the file has them.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not an lstmkit model, is corrupt, or does not fit.
    """
    what = "model file"
    entries = read_archive(path, what)
    meta = header(entry(entries, "model.json", what), FORMAT, what)
    model = model_from_config(meta.get("class"), meta.get("config"), custom_objects)
    state = tensors_from_bytes(entry(entries, "weights.safetensors", what), what)
    load_state(model, state, what)
    if compile and meta.get("compile") is not None:
        from .compiling import CompileConfig
        from .optimizers import rebuild

        if "optimizer.json" in entries:
            description, opt_state = optimizer_from_entries(entries, what)
            opt = rebuild(description, model.parameters())
            opt.load_state_dict(opt_state)
        else:
            opt = "rmsprop"
        model.compiled = CompileConfig.from_json(meta["compile"], opt, "cpu")
        model.optimizer = opt if isinstance(opt, torch.optim.Optimizer) else None
    return model


def model_from_config(name: Any, config: Any, custom: dict[str, type] | None) -> Any:
    from .sequential import Sequential

    classes = {"Sequential": Sequential, **(custom or {})}
    if name not in classes or not isinstance(config, dict):
        raise ValueError(
            f"model file: cannot rebuild a model of class {name!r}; "
            "pass custom model classes to load_model(..., custom_objects={name: cls})"
        )
    return classes[name].from_config(config, custom)
