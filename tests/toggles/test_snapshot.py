from liftinfer.config import EngineConfig
from liftinfer.pluginmanager import Plugins
from liftinfer.toggles.base import compose
from liftinfer.toggles.snapshot import SnapshotToggle


def test_asks_for_snapshots_and_vllm_sleep_mode():
    changes = SnapshotToggle().changes(EngineConfig(), "vllm")
    assert changes.deployment == {"snapshot": True}
    assert changes.engine_options == {"enable_sleep_mode": True}


def test_other_backends_get_no_vllm_option():
    assert SnapshotToggle().changes(EngineConfig(), "transformers").engine_options == {}
    assert SnapshotToggle().changes(EngineConfig(), None).engine_options == {}


def test_composes_with_the_base_image_toggle():
    toggles = Plugins(entry_points=False, disabled=set()).toggles()
    changes = compose([toggles["snapshot"], toggles["base-image"]], EngineConfig(), "vllm")
    assert changes.toggles == ("base-image", "snapshot")
    assert changes.deployment["snapshot"] is True and "image.base" in changes.deployment
    assert changes.warnings == ()
