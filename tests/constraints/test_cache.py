from liftinfer.constraints.cache import GrammarCache


def test_cache_is_bounded_in_bytes_and_least_recently_used_goes_first():
    cache = GrammarCache(max_bytes=100)
    cache.put("a", "A", 40)
    cache.put("b", "B", 40)
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("c", "C", 40)
    assert cache.get("b") is None
    assert cache.get("a") == "A" and cache.get("c") == "C"
    assert cache.bytes == 80
    stats = cache.stats()
    assert stats["evictions"] == 1 and stats["hits"] == 3 and stats["misses"] == 1
    cache.put("huge", "H", 1000)  # bigger than the whole cache: not kept, nothing flushed
    assert cache.get("huge") is None and cache.get("a") == "A"
