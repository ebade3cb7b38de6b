"""The embedded default: transformers on CPU (or a small GPU), with xgrammar masks on the logits.

Concurrent requests are decoded together: a scheduler thread takes whatever is waiting (up to
``max_batch_size``), left-pads the prompts into one batch and steps them with one KV cache; each row has
its own grammar matcher and sampling state, and is answered the moment it finishes.
"""

from __future__ import annotations

import inspect
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from liftinfer.backends import Backend
from liftinfer.backends.chat import chat_token_ids
from liftinfer.constraints.builder import allocate_bitmask, apply_bitmask, import_xgrammar
from liftinfer.engine.base import Completion, GenerationEngine, PreparedRequest
from liftinfer.engine.decode import DecodeRow
from liftinfer.engine.loop import PendingRequest
from liftinfer.errors import BackendError, LiftinferError, MissingDependency
from liftinfer.markers import hookimpl
from liftinfer.sources import ensure_hf_dir, resolve_model

CPU_BATCH_SIZE = 8  # on 2-4 cores, larger waves add latency faster than throughput


@dataclass
class _Job(PendingRequest):
    prompt: list[int] = field(default_factory=list)
    failed: bool = False

    def fail(self, error: LiftinferError) -> None:
        self.failed = True
        self.resolve(error)


class TransformersEngine(GenerationEngine):
    backend_name = "transformers"

    def _load(self) -> None:
        with self.phase("import"):
            try:
                import torch
                import transformers
            except ImportError as exc:
                raise MissingDependency(exc.name or "torch", "cpu", "The transformers backend") from None
            import_xgrammar()
        with self.phase("resolve_model"):
            resolved = resolve_model(self.config.model, self.cache, self.plugins.model_sources())
            path = ensure_hf_dir(resolved, self.cache)
        self.model_name = resolved.name
        device = self.config.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = self._dtype(torch, device)
        if device == "cpu":
            torch.set_num_threads(self.config.threads or os.cpu_count() or 1)
        with self.phase("load_weights"):
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
            model: Any = transformers.AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
            self.model = model.to(device).eval()
        self.device = device
        self._scheduler = _Scheduler(self)
        self._scheduler.start()

    def _dtype(self, torch: Any, device: str) -> Any:
        name = self.config.dtype
        if name == "auto":
            name = "bfloat16" if device == "cuda" else "float32"
        try:
            return getattr(torch, name)
        except AttributeError:
            from liftinfer.errors import ConfigError

            raise ConfigError(f"unknown dtype {name!r}", field="dtype") from None

    def grammar_engines(self) -> tuple[str, ...] | None:
        """``grammar_backend`` pins one engine; ``auto`` ranks both per schema (docs/conformance.md)."""
        return {"xgrammar": ("xgrammar",), "guidance": ("llguidance",),
                "llguidance": ("llguidance",)}.get(self.config.grammar_backend)

    def tokenizer_info(self) -> Any:
        xgr = import_xgrammar()
        return xgr.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=self.model.config.vocab_size)

    async def _complete(self, prepared: PreparedRequest) -> Completion:
        # Tokenized here, per request: a prompt that cannot fit is refused before it reaches a batch.
        prompt = chat_token_ids(self.tokenizer, prepared.chat)
        prepared.check_fits(len(prompt), self.config.max_model_len)
        return await _Job.run(prepared, self._scheduler.submit, prompt=prompt)

    def _close(self) -> None:
        scheduler = getattr(self, "_scheduler", None)
        if scheduler is not None:
            scheduler.stop()


class _Scheduler(threading.Thread):
    """Decodes waves of waiting requests as one batch; new requests join the next wave."""

    def __init__(self, engine: TransformersEngine) -> None:
        super().__init__(name="liftinfer-transformers", daemon=True)
        import torch

        self.engine = engine
        self.torch = torch
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.pad_id = engine.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = engine.tokenizer.eos_token_id or 0
        self.vocab = engine.model.config.vocab_size
        eos = engine.model.generation_config.eos_token_id if engine.model.generation_config else None
        self.eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        self.eos_ids.add(engine.tokenizer.eos_token_id)
        # transformers 5.x renamed past_key_values to cache; take whichever this version has
        params = inspect.signature(engine.model.forward).parameters
        self.cache_arg = "cache" if "cache" in params else "past_key_values"

    def submit(self, job: _Job) -> None:
        self.jobs.put(job)

    def stop(self) -> None:
        self.jobs.put(None)

    def run(self) -> None:
        while True:
            first = self.jobs.get()
            if first is None:
                return
            # A burst of requests reaches this queue one by one (each is checked and tokenized first): wait
            # a moment after each arrival for the next, or the first would be decoded alone and the rest
            # wait for its whole generation before theirs begins.
            wave, window = [first], self.engine.config.batch_window_ms / 1000
            while len(wave) < (self.engine.config.max_batch_size or CPU_BATCH_SIZE):
                try:
                    job = self.jobs.get(timeout=window) if window else self.jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self.jobs.put(None)
                    break
                wave.append(job)
            wave = [j for j in wave if not j.cancelled]
            if not wave:
                continue
            try:
                with self.torch.inference_mode():
                    self._decode(wave)
            except Exception as exc:  # one bad wave must not end the scheduler
                error = exc if isinstance(exc, LiftinferError) else BackendError(
                    f"generation failed: {type(exc).__name__}: {exc}")
                for job in wave:
                    job.resolve(error)

    def _decode(self, wave: list[_Job]) -> None:
        torch, engine = self.torch, self.engine
        started = time.perf_counter()
        prompts = [job.prompt for job in wave]
        longest = max(len(p) for p in prompts)
        ids = torch.full((len(wave), longest), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(wave), longest), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, longest - len(prompt):] = torch.tensor(prompt)
            mask[row, longest - len(prompt):] = 1
        device = engine.device
        ids, mask = ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        rows = [DecodeRow(job.prepared, self._text, self.eos_ids) for job in wave]
        bitmask = allocate_bitmask(len(wave), self.vocab)
        generators = [self._generator(job) for job in wave]
        cache = _new_cache(engine.model)
        active = list(range(len(wave)))
        while active:
            out = engine.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                               use_cache=True, **{self.cache_arg: cache})
            logits = out.logits[:, -1, :].float()
            for i, row in enumerate(active):
                self._fill(wave[row], rows[row], bitmask, i)
            apply_bitmask(logits, bitmask[: len(active)])
            chosen = [self._sample(logits[i], wave[row], generators[row]) for i, row in enumerate(active)]
            keep: list[int] = []
            for i, (row, token) in enumerate(zip(active, chosen, strict=True)):
                job = wave[row]
                if job.cancelled or job.failed:
                    continue
                try:
                    reason = rows[row].advance(token)
                except LiftinferError as exc:  # this row's grammar failed: its request fails, not the wave
                    job.fail(exc)
                    continue
                if reason is None:
                    keep.append(i)
                else:
                    job.resolve(rows[row].completion(reason, prompt_tokens=len(prompts[row]), started=started))
            if not keep:
                return
            index = torch.tensor(keep, device=device)
            if len(keep) < len(active):
                cache.batch_select_indices(index)
                mask = mask[index]
            next_ids = torch.tensor([chosen[i] for i in keep], device=device).unsqueeze(1)
            positions = positions[index, -1:] + 1 if len(keep) < len(active) else positions[:, -1:] + 1
            mask = torch.cat([mask, torch.ones((len(keep), 1), dtype=mask.dtype, device=device)], dim=1)
            ids = next_ids
            active = [active[i] for i in keep]

    @staticmethod
    def _fill(job: _Job, row: DecodeRow, bitmask: Any, index: int) -> None:
        """Write the row's allowed tokens; every token for a failed row (its output is dropped)."""
        if not job.failed:
            try:
                row.fill(bitmask, index)
                return
            except LiftinferError as exc:
                job.fail(exc)
        bitmask[index] = -1

    def _text(self, tokens: list[int]) -> str:
        return str(self.engine.tokenizer.decode(tokens, skip_special_tokens=True))

    def _generator(self, job: _Job) -> Any:
        if job.prepared.seed is None or job.prepared.temperature == 0:
            return None
        return self.torch.Generator().manual_seed(job.prepared.seed)

    def _sample(self, logits: Any, job: _Job, generator: Any) -> int:
        torch = self.torch
        temperature = job.prepared.temperature
        if temperature == 0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits / temperature, dim=-1)
        top_p = job.prepared.request.top_p
        if top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            cumulative = torch.cumsum(sorted_probs, dim=-1)
            drop = cumulative - sorted_probs > top_p
            sorted_probs[drop] = 0.0
            probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
        return int(torch.multinomial(probs.cpu(), 1, generator=generator))


def _new_cache(model: Any) -> Any:
    from transformers import DynamicCache

    try:
        return DynamicCache(config=model.config)
    except TypeError:  # transformers < 4.56 takes no config
        return DynamicCache()


def _unavailable() -> str | None:
    import importlib.util

    missing = [m for m in ("torch", "transformers", "xgrammar", "gguf") if importlib.util.find_spec(m) is None]
    return f"missing {', '.join(missing)} (pip install 'liftinfer[cpu]')" if missing else None


def _engine_class() -> type[GenerationEngine]:
    return TransformersEngine


@hookimpl
def liftinfer_register_backends(register: Any) -> None:
    register(Backend(
        name="transformers",
        load=_engine_class,
        description="transformers with xgrammar logit masks; CPU default, runs anywhere",
        unavailable=_unavailable,
    ))
