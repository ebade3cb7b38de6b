"""The hook markers, in a leaf module: plugins (built-in ones too) import ``hookimpl`` from here, not the specs."""

from __future__ import annotations

import pluggy

PROJECT = "liftinfer"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
