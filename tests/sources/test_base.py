import pytest

from liftinfer.engine.cache import CacheRoot
from liftinfer.errors import ModelSourceError
from liftinfer.sources import resolve_model
from liftinfer.sources.packaged import PackagedSource
from liftinfer.sources.paths import LocalSource


def test_resolve_model_names_what_was_tried(tmp_path):
    with pytest.raises(ModelSourceError, match="tried: packaged, local"):
        resolve_model("???", CacheRoot(tmp_path), [PackagedSource(), LocalSource()])
