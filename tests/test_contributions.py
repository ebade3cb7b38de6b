import pytest

from liftinfer.contributions import Contributions
from liftinfer.errors import ConfigError


def test_owners_that_agree_merge_and_list_extensions_add_up():
    merged = Contributions("engine option").add("plugin a", {"x": 1, "packages+": ["p"]})
    merged.add("toggle 'b'", {"x": 1, "y": 2, "packages+": "q"}).add("plugin c", None)
    assert merged.values == {"x": 1, "y": 2, "packages+": ["p", "q"]}
    assert merged.owners["y"] == "toggle 'b'"


def test_two_owners_that_disagree_are_one_error_naming_both():
    merged = Contributions("environment variable").add("plugin a", {"HOME": "/a"})
    with pytest.raises(ConfigError) as info:
        merged.add("toggle 'b'", {"HOME": "/b"})
    assert info.value.message == ("environment variable 'HOME' is set to '/a' by plugin a and to '/b' by "
                                  "toggle 'b'; drop one of them")
    assert info.value.field == "HOME"
