import pytest

from liftinfer.engine.cache import CacheRoot
from liftinfer.errors import ModelSourceError
from liftinfer.sources.hub import HubSource


def test_hub_source_fails_clearly_without_a_hub(tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelSourceError, match="could not fetch 'nobody/nothing' from the Hugging Face hub"):
        HubSource().resolve("nobody/nothing", CacheRoot(tmp_path))
