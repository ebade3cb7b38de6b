"""The core: requests, constraints, caches, model sources and the GenerationEngine base class."""
