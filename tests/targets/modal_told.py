"""Read back, offline, what a built Modal app would tell Modal: the class's function definition, its
image layers and its lifecycle methods. These are the values modal 1.x puts into its FunctionCreate and
ImageGetOrCreate requests; no network is touched.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from modal._partial_function import _find_partial_methods_for_user_cls, _PartialFunctionFlags
from modal._utils.async_utils import synchronizer

from liftinfer.targets.modal_source import CLASS_NAME


def _closure(fn: Any) -> dict[str, Any]:
    return dict(zip(fn.__code__.co_freevars, [c.cell_contents for c in fn.__closure__ or ()], strict=True))


def told(module: ModuleType) -> dict[str, Any]:
    """The serving class's options as Modal would receive them."""
    cls = synchronizer._translate_in(getattr(module, CLASS_NAME))
    function = cls._get_class_service_function()
    c = _closure(function._load)
    autoscaler = c["autoscaler_settings"]
    return {
        "gpu": c["gpu"],
        "min_containers": autoscaler.min_containers if autoscaler.HasField("min_containers") else None,
        "max_containers": autoscaler.max_containers if autoscaler.HasField("max_containers") else None,
        "scaledown_window": autoscaler.scaledown_window,
        "max_concurrent_inputs": c["max_concurrent_inputs"],
        "target_concurrent_inputs": c["target_concurrent_inputs_int"],
        "timeout": c["timeout"],
        "startup_timeout": c["startup_timeout"],
        "enable_memory_snapshot": c["enable_memory_snapshot"],
        "experimental_options": c["experimental_options"],
        "regions": list(c["scheduler_placement"].regions) if c["scheduler_placement"] else [],
        "volumes": {path: volume_told(v) for path, v in c["validated_volumes_no_cloud_buckets"]},
        "secrets": [_closure(s._load).get("name") for s in c["secrets"]],
        "web": {name: {"type": api_name(m.webhook_config.type), "requires_proxy_auth":
                       m.webhook_config.requires_proxy_auth}
                for name, m in c["method_definitions"].items() if m.webhook_config.type},
        "image": c["image"],
    }


def volume_told(volume: Any) -> tuple[str, bool]:
    c = _closure(volume._load)
    if "name" not in c:  # a read-only (mount options) handle wraps the named volume
        return volume_told(c["self"])
    return c["name"], c["create_if_missing"]


def api_name(value: int) -> str:
    from modal_proto import api_pb2

    return api_pb2.WebhookType.Name(value)


def lifecycle(module: ModuleType) -> dict[str, list[str]]:
    """The class's lifecycle methods by kind."""
    user_cls = synchronizer._translate_in(getattr(module, CLASS_NAME))._user_cls
    kinds = {"enter_pre_snapshot": _PartialFunctionFlags.ENTER_PRE_SNAPSHOT,
             "enter_post_snapshot": _PartialFunctionFlags.ENTER_POST_SNAPSHOT,
             "exit": _PartialFunctionFlags.EXIT}
    return {kind: sorted(_find_partial_methods_for_user_cls(user_cls, flag)) for kind, flag in kinds.items()}


def call(module: ModuleType, method: str, instance: Any) -> Any:
    """Run one of the class's methods locally, as the container would."""
    user_cls = synchronizer._translate_in(getattr(module, CLASS_NAME))._user_cls
    partial = synchronizer._translate_in(user_cls.__dict__[method])
    return partial.raw_f(instance)


def user_instance(module: ModuleType) -> Any:
    user_cls = synchronizer._translate_in(getattr(module, CLASS_NAME))._user_cls
    return user_cls.__new__(user_cls)


def image_steps(image: Any, version: str = "2025.06") -> list[str]:
    """The image's layers from the bottom up, as Dockerfile commands plus ``MOUNT ...`` for local files.

    ``FROM base`` lines that only chain layers are left out; a registry or id base shows as ``FROM <ref>``.
    """
    node = synchronizer._translate_in(image)
    layers: list[list[str]] = []
    while node is not None:
        c = _closure(node._load)
        if "mount" in c:  # add_local_* layer
            layers.append([f"MOUNT {entry!r}" for entry in c["mount"]._entries])
            node = c["base_image"]
        elif "split_image" in c:  # from_registry(..., add_python=...)
            node = c["split_image"]
        elif "image_id" in c:  # from_id
            layers.append([f"FROM {c['image_id']}"])
            node = None
        else:
            commands = c["dockerfile_function"](version).commands if c["dockerfile_function"] else []
            layers.append([cmd for cmd in commands if cmd != "FROM base"])
            bases = c["base_images"] or {}
            node = next(iter(bases.values()), None)
    return [cmd for layer in reversed(layers) for cmd in layer]
