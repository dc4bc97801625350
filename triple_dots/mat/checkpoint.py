"""Reading MAT weights without executing anything from the file.

The released ``.pkl`` checkpoints pickle whole networks with NVIDIA's ``torch_utils.persistence`` (each
object carries its module's source, which the official loader executes). :class:`SafeUnpickler` builds
only tensors, containers and inert placeholders from an allowlist and refuses every other global with
:class:`BadWeightsError`. Plain ``.pth``/``.pt`` and ``.safetensors`` state dicts are read too.
"""

from __future__ import annotations

import collections
import io
import pickle
import zlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from triple_dots.errors import BadWeightsError, where


class PersistentObject:
    """Stand-in for a ``torch_utils.persistence`` object: keeps ``meta`` only (``module_src`` is never executed)."""

    def __init__(self, meta: Any) -> None:
        if not isinstance(meta, dict):
            raise pickle.UnpicklingError(f"persistent object meta must be a dict, got {type(meta).__name__}")
        self.meta = meta

    @property
    def class_name(self) -> str:
        return str(self.meta.get("class_name", "?"))

    @property
    def state(self) -> dict:
        state = self.meta.get("state")
        return state if isinstance(state, dict) else {}


class PickledModule:
    """Stand-in for a pickled ``torch.nn`` module (``ModuleList``, ``Sequential``, ``Softmax`` ...)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: dict = {}

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {}


class Opaque:
    """Stand-in for values the loader never needs (numpy scalars and dtypes, ``EasyDict`` options)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _OpaqueDict(dict):
    """Stand-in for dict subclasses such as ``dnnlib.EasyDict`` (contents kept, no attribute magic)."""


def _load_storage_bytes(data: bytes) -> Any:
    """``torch.storage._load_from_bytes``, but with ``weights_only=True`` (storages only)."""
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError("storage payload is not bytes")
    obj = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    if not isinstance(obj, (torch.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError(f"storage payload holds {type(obj).__name__}, not a storage")
    return obj


def _rebuild_tensor_v2(storage: Any, offset: int, size: tuple, stride: tuple, requires_grad: bool = False,
                       backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    """``torch._utils._rebuild_tensor_v2`` restricted to real storages and no hooks."""
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError(f"tensor rebuilt from {type(storage).__name__}, not a storage")
    if backward_hooks:
        raise pickle.UnpicklingError("tensors with backward hooks are refused")
    typed = isinstance(storage, torch.TypedStorage)
    t = torch.empty((0,), dtype=storage.dtype if typed else torch.uint8)
    return t.set_(storage._untyped_storage if typed else storage, int(offset), tuple(size), tuple(stride))


def _rebuild_parameter(data: Any, requires_grad: bool = False, backward_hooks: Any = None,
                       *state: Any) -> torch.Tensor:
    """Parameters become plain tensors (``_rebuild_parameter`` and ``_rebuild_parameter_with_state``)."""
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError(f"parameter rebuilt from {type(data).__name__}, not a tensor")
    if backward_hooks:
        raise pickle.UnpicklingError("parameters with backward hooks are refused")
    return data


def _reconstructor(cls: Any, base: Any, state: Any = None) -> Any:
    """``copyreg._reconstructor`` for the allowed placeholder classes only (protocol 0/1 pickles)."""
    if cls not in (PickledModule, Opaque, _OpaqueDict, collections.OrderedDict):
        raise pickle.UnpicklingError(f"refusing to reconstruct {cls!r}")
    return cls.__new__(cls)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): PersistentObject,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_bytes,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("builtins", "object"): object,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set,
    ("numpy.core.multiarray", "scalar"): Opaque,
    ("numpy._core.multiarray", "scalar"): Opaque,
    ("numpy", "dtype"): Opaque,
    ("numpy.core.multiarray", "_reconstruct"): Opaque,
    ("numpy._core.multiarray", "_reconstruct"): Opaque,
    ("numpy", "ndarray"): Opaque,
    ("dnnlib.util", "EasyDict"): _OpaqueDict,
    ("torch", "device"): Opaque,
    ("torch", "Size"): tuple,
}


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that builds only tensors, containers and inert placeholders (see module docs)."""

    def __init__(self, file: Any, *, name: str = "<in-memory input>") -> None:
        super().__init__(file)
        self.name = name

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED.get((module, name))
        if allowed is not None:
            return allowed
        if module.startswith("torch.nn.modules.") and name[:1].isupper():
            return PickledModule
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        raise pickle.UnpicklingError(
            f"{self.name} wants to load the global '{module}.{name}', which a weights file has no need for; "
            "refused (the file was not executed)"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(f"{self.name} uses persistent ids ({pid!r}); not an official MAT pickle")


def safe_unpickle(path: str | Path) -> Any:
    """Unpickle ``path`` with :class:`SafeUnpickler`; refused or corrupt -> :class:`BadWeightsError`."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return SafeUnpickler(fh, name=where(path)).load()
    except OSError as exc:
        raise BadWeightsError(f"cannot read {where(path)}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - refused global, truncated or corrupt pickle, bad storage payload ...
        raise BadWeightsError(f"{where(path)} is not a loadable MAT pickle: {exc}") from None


def extract_state_dict(obj: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """The ``state_dict()`` of a pickled network (:class:`PersistentObject` tree), in ``nn.Module`` order."""
    if not isinstance(obj, (PersistentObject, PickledModule)):
        raise BadWeightsError(f"unexpected object {type(obj).__name__} in the network tree")
    state = obj.state
    out: dict[str, torch.Tensor] = {}
    non_persistent = state.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is None or (group == "_buffers" and name in non_persistent):
                continue
            if not isinstance(value, torch.Tensor):
                raise BadWeightsError(f"{prefix}{name} is a {type(value).__name__}, not a tensor")
            out[prefix + name] = value.detach()
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            out.update(extract_state_dict(child, f"{prefix}{name}."))
    return out


def _generator_from_pickle(data: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(data, PersistentObject):
        net = data
    elif isinstance(data, dict) and "G_ema" in data:
        net = data["G_ema"]
    else:
        keys = ", ".join(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise BadWeightsError(f"{where(path)} has no 'G_ema' network (found: {keys})")
    try:
        return extract_state_dict(net)
    except BadWeightsError as exc:
        raise BadWeightsError(f"{where(path)}: {exc}") from None


def _plain_state(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict) and "G_ema" in obj and isinstance(obj["G_ema"], dict):
        obj = obj["G_ema"]
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise BadWeightsError(f"{where(path)} does not hold a plain state dict of tensors (got {type(obj).__name__})")
    return dict(obj)


def load_state_file(path: str | Path) -> dict[str, torch.Tensor]:
    """The generator state dict in ``path``: an official ``.pkl`` (``G_ema``, read safely), a ``.pth``/``.pt``
    state dict (``weights_only=True``) or a ``.safetensors`` file. Errors -> :class:`BadWeightsError`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise BadWeightsError(f"{where(path)} is a .safetensors file: pip install safetensors to read it") from None
        try:
            return _plain_state(load_file(str(path), device="cpu"), path)
        except BadWeightsError:
            raise
        except Exception as exc:  # noqa: BLE001 - corrupt header, truncated file ...
            raise BadWeightsError(f"{where(path)} is not a readable safetensors file ({exc})") from None
    if suffix in (".pkl", ".pickle") or (suffix not in (".pth", ".pt", ".bin") and not _is_zip(path)):
        return _generator_from_pickle(safe_unpickle(path), path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling error, truncated zip, not a torch file ...
        raise BadWeightsError(f"{where(path)} is not a readable PyTorch state dict ({type(exc).__name__}: {exc})") from None
    return _plain_state(obj, path)


def _is_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def infer_resolution(state: dict[str, torch.Tensor]) -> int | None:
    """The generator's resolution from its keys (largest ``synthesis.enc.EncConv_Block_RxR``), or None."""
    sizes = []
    for key in state:
        if key.startswith("synthesis.enc.EncConv_Block_"):
            side = key.split(".")[2].rsplit("_", 1)[-1].split("x")[0]  # "EncConv_Block_512x512" -> "512"
            if side.isdigit():
                sizes.append(int(side))
    return max(sizes) if sizes else None


def infer_widths(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """``z_dim``, ``w_dim``, ``dim`` and ``channel_divisor`` of a generator state dict (released defaults if absent)."""
    def dim_of(key: str, axis: int, default: int) -> int:
        t = state.get(key)
        return int(t.shape[axis]) if isinstance(t, torch.Tensor) and t.ndim > axis else default

    c16 = dim_of("synthesis.dec.Dec_16x16.conv0.weight", 0, 512)
    return {
        "z_dim": dim_of("mapping.fc0.weight", 1, 512),
        "w_dim": dim_of("mapping.w_avg", 0, 512),
        "dim": dim_of("synthesis.first_stage.conv_first.conv.weight", 0, 180),
        "channel_divisor": max(1, 512 // max(1, c16)),
    }


def check_state_dict(net: nn.Module, state: dict[str, torch.Tensor], path: str | Path | None) -> None:
    """Raise :class:`BadWeightsError` naming ``path`` and the first bad keys unless ``state`` fits ``net``."""
    from triple_dots.state_dicts import state_dict_mismatch

    problem = state_dict_mismatch(net, state)
    if problem is not None:
        raise BadWeightsError(f"{where(path)} does not fit the MAT generator: " + problem
                              + ". Is it a MAT generator (G_ema) file of the same resolution?")


def reference_state_dict(net: nn.Module, weight_seed: int = 0) -> dict[str, torch.Tensor]:
    """Deterministic test weights (the reference fixtures'): per key of ``net.state_dict()``, ``x = randn(shape,
    generator=manual_seed(crc32(key) + weight_seed))``: ``weight``/``noise_const`` get ``x``, ``bias``/
    ``noise_strength``/``w_avg`` ``0.1 * x``; ``attn_mask``/``resample_filter`` are kept."""
    out = {}
    for key, value in net.state_dict().items():
        leaf = key.rsplit(".", 1)[-1]
        if leaf in ("attn_mask", "resample_filter"):
            if value.is_meta:
                raise ValueError(f"{key} is on the meta device: build the network on a real device")
            out[key] = value.detach().clone()
            continue
        g = torch.Generator().manual_seed(zlib.crc32(key.encode()) + weight_seed)
        x = torch.randn(tuple(value.shape), generator=g, dtype=torch.float32)
        if leaf in ("weight", "noise_const"):
            out[key] = x
        elif leaf in ("bias", "noise_strength", "w_avg"):
            out[key] = 0.1 * x
        else:
            raise ValueError(f"no reference rule for key {key!r}")
    return out


__all__ = [
    "PersistentObject", "PickledModule", "SafeUnpickler", "check_state_dict", "extract_state_dict",
    "infer_resolution", "infer_widths", "load_state_file", "reference_state_dict", "safe_unpickle",
]


def save_persistence_pickle(model: nn.Module, path: str | Path, *, overwrite: bool = False,
                            note: str = "stand-in: random weights, no source") -> Path:
    """Write ``model`` as ``{"G_ema": ...}`` in the released pickle layout (stand-ins and tests), with ``note``
    where the official files carry module source; :func:`load_state_file` reads it like a released one."""
    import sys
    import types

    from triple_dots.files import atomic_write_bytes

    def _reconstruct_persistent_obj(meta: dict) -> None:  # never called: a name for the pickle to refer to
        raise RuntimeError("stand-in placeholder")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"

    class _Persistent:
        def __init__(self, module: nn.Module) -> None:
            self.module = module

        def __reduce__(self) -> tuple:
            m = self.module
            state = {"_parameters": {k: (None if v is None else v.detach().cpu()) for k, v in m._parameters.items()},
                     "_buffers": {k: (None if v is None else v.detach().cpu()) for k, v in m._buffers.items()},
                     "_non_persistent_buffers_set": set(m._non_persistent_buffers_set),
                     "_modules": {k: (None if c is None else _Persistent(c)) for k, c in m._modules.items()}}
            meta = {"type": "class", "version": 6, "module_src": f"# {note}\n", "class_name": type(m).__name__,
                    "state": state}
            return _reconstruct_persistent_obj, (meta,)

    fake = types.ModuleType("torch_utils.persistence")
    fake._reconstruct_persistent_obj = _reconstruct_persistent_obj  # type: ignore[attr-defined]
    saved = {name: sys.modules.get(name) for name in ("torch_utils", "torch_utils.persistence")}
    sys.modules["torch_utils"] = types.ModuleType("torch_utils")
    sys.modules["torch_utils.persistence"] = fake
    try:
        data = pickle.dumps({"G": None, "D": None, "G_ema": _Persistent(model), "augment_pipe": None},
                            protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return atomic_write_bytes(path, data, overwrite=overwrite)
