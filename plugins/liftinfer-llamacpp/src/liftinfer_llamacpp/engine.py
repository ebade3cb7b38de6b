"""The llamacpp engine: llama.cpp decodes, liftinfer's xgrammar matchers mask its logits every step.

Requests are batched continuously: one scheduler thread owns the llama.cpp context, which holds a KV
stream per slot (``max_batch_size`` slots). Each step decodes one token for every running request,
together with the prompt of any request that just took a free slot, in one ``llama_decode`` call; a
request leaves the batch the moment it finishes, and a waiting one takes its slot at the next step.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from liftinfer.plugin import (
    BackendError,
    Completion,
    ConfigError,
    DecodeRow,
    GenerationEngine,
    LiftinferError,
    NotReady,
    PendingRequest,
    PreparedRequest,
    allocate_bitmask,
    apply_bitmask,
    import_xgrammar,
    resolve_model,
)
from liftinfer_llamacpp.model import GGUFModel, import_llama_cpp

log = logging.getLogger("liftinfer.llamacpp")

MIN_REUSE = 8  # cached prompt tokens worth choosing a slot for

# engine options (``--option KEY=VALUE``, ``engine_options``) this backend reads
OPTIONS = {
    "n_ctx": "context tokens per request slot (default: max_model_len, at most the model's training context)",
    "n_batch": "most tokens in one llama_decode call (default 512)",
    "flash_attn": "true/false: force llama.cpp's flash attention on or off (default: llama.cpp decides)",
    "kv_unified": "true: one KV buffer shared by all slots instead of one stream per slot (default false)",
    "verbose": "true: let llama.cpp log to stderr",
}


class LlamaCppEngine(GenerationEngine):
    backend_name = "llamacpp"

    def _load(self) -> None:
        with self.phase("import"):
            import_llama_cpp()
            import_xgrammar()
        with self.phase("resolve_model"):
            resolved = resolve_model(self.config.model, self.cache, self.plugins.model_sources())
        if resolved.format != "gguf":
            raise ConfigError(
                f"the llamacpp backend loads GGUF files; {resolved.name} is a {resolved.format} directory "
                "(use --backend transformers)", field="model")
        unknown = sorted(set(self.options) - set(OPTIONS))
        if unknown:
            log.warning("llamacpp ignores engine options %s (it reads %s)", unknown, sorted(OPTIONS))
        self.model_name = resolved.name
        with self.phase("load_weights"):
            self.model = GGUFModel(
                resolved.path,
                n_threads=self.config.threads or os.cpu_count() or 1,
                n_seq=self.config.max_batch_size,
                n_ctx_seq=self._int_option("n_ctx", self.config.max_model_len),
                n_batch=self._int_option("n_batch", 512),
                flash_attn=self.options.get("flash_attn"),
                kv_unified=bool(self.options.get("kv_unified", False)),
                verbose=bool(self.options.get("verbose", False)),
            )
        self._scheduler = _Scheduler(self.model)
        self._scheduler.start()

    def _int_option(self, name: str, default: int) -> int:
        value = self.options.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"engine option {name} must be a positive integer (got {value!r})", field=name)
        return value

    def tokenizer_info(self) -> Any:
        return self.model.tokenizer_info()

    async def _complete(self, prepared: PreparedRequest) -> Completion:
        # a cancelled request is marked, and the scheduler frees its slot at its next step
        return await PendingRequest.run(prepared, self._scheduler.submit)

    def health(self) -> dict[str, Any]:
        report = super().health()
        scheduler = getattr(self, "_scheduler", None)
        if scheduler is not None:
            report["llamacpp"] = {"slots": self.model.n_seq, "free_slots": len(scheduler.free),
                                  "context_per_slot": self.model.n_ctx_seq, "steps": self.step_stats()}
        return report

    def step_stats(self) -> dict[str, float]:
        """Decoding time by part (llama_decode, grammar mask, sampling) and token counts, since load."""
        return self._scheduler.stats.snapshot()

    def _close(self) -> None:
        scheduler = getattr(self, "_scheduler", None)
        if scheduler is not None:
            scheduler.stop()
            scheduler.join(timeout=30)
        model = getattr(self, "model", None)
        if model is not None and (scheduler is None or not scheduler.is_alive()):
            model.close()


class StepStats:
    """Where the scheduler's time goes, summed since load (``sample_s`` includes advancing the matcher)."""

    FIELDS = ("steps", "tokens_in", "tokens_out", "prompt_tokens", "prompt_tokens_reused", "decode_s",
              "fill_mask_s", "apply_mask_s", "sample_s")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.totals = dict.fromkeys(self.FIELDS, 0.0)

    def add(self, **values: float) -> None:
        with self._lock:
            for key, value in values.items():
                self.totals[key] += value

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {k: round(v, 6) for k, v in self.totals.items()}


@dataclass
class _Sequence:
    """One request in a slot: what it still has to feed, what it generated, its grammar and sampler."""

    job: PendingRequest
    slot: int
    prompt: list[int]
    row: DecodeRow  # its grammar matcher and the tokens generated so far
    rng: Any
    started: float
    pending: list[int] = field(default_factory=list)
    position: int = 0


class _Scheduler(threading.Thread):
    """Owns the llama.cpp context: admits requests into free slots and steps all of them together."""

    def __init__(self, model: GGUFModel) -> None:
        super().__init__(name="liftinfer-llamacpp", daemon=True)
        import numpy
        import torch

        self.np, self.torch = numpy, torch
        self.model = model
        self.jobs: queue.Queue[PendingRequest | None] = queue.Queue()
        self.free = list(range(model.n_seq))
        self.running: list[_Sequence] = []
        self.bitmask = allocate_bitmask(model.n_seq, model.n_vocab)
        self.stopping = False
        self.stats = StepStats()
        self.cached: dict[int, list[int]] = {}  # free slot -> the tokens its KV cache still holds

    def submit(self, job: PendingRequest) -> None:
        self.jobs.put(job)

    def stop(self) -> None:
        self.stopping = True
        self.jobs.put(None)  # wakes the thread if it waits for work

    def run(self) -> None:
        while not self.stopping:
            self._admit(block=not self.running)
            self.running = [s for s in self.running if not self._dropped(s)]
            if not self.running:
                continue
            try:
                self._step()
            except Exception as exc:  # one failed step must not end the scheduler
                error = exc if isinstance(exc, LiftinferError) else BackendError(
                    f"generation failed: {type(exc).__name__}: {exc}")
                for seq in self.running:
                    self._finish(seq, error)
                self.running = []
        for seq in self.running:
            self._finish(seq, NotReady("the engine closed while generating"))
        self.running = []
        self._drain()

    # ---- admission -------------------------------------------------------------------------------------

    def _admit(self, block: bool) -> None:
        while self.free and not self.stopping:
            try:
                job = self.jobs.get(block=block)
            except queue.Empty:
                return
            block = False
            if job is None:
                self.stopping = True
                return
            if not job.cancelled:
                self._start(job)

    def _start(self, job: PendingRequest) -> None:
        try:
            prompt = self.model.render(job.prepared.chat)
            self.model.check_prompt(prompt)
            row = DecodeRow(job.prepared, self.model.detokenize)
        except Exception as exc:
            error = exc if isinstance(exc, LiftinferError) else BackendError(f"{type(exc).__name__}: {exc}")
            job.resolve(error)
            return
        rng = None
        if job.prepared.temperature > 0:
            rng = self.np.random.default_rng(job.prepared.seed)
        slot, reuse = self._slot_for(prompt)
        self.free.remove(slot)
        cached = self.cached.pop(slot, None)
        if not (reuse and self.model.forget(slot, keep=reuse)):
            reuse = 0
            if cached:
                self.model.forget(slot)
        self.stats.add(prompt_tokens=len(prompt), prompt_tokens_reused=reuse)
        started = time.perf_counter()
        self.running.append(_Sequence(job, slot, prompt, row, rng, started, pending=prompt[reuse:],
                                      position=reuse))

    def _slot_for(self, prompt: list[int]) -> tuple[int, int]:
        """The free slot whose cached tokens share the longest prefix with ``prompt``, and that length.

        A finished request leaves its tokens in its slot, so a request with the same system prompt (or
        the same conversation so far) skips decoding that prefix again. With little to reuse, the lowest
        free slot keeps the running ones contiguous, which llama.cpp decodes in one micro-batch.
        """
        best, reuse = min(self.free), 0
        for slot in self.free:
            cached = self.cached.get(slot, ())
            n = 0
            for a, b in zip(cached, prompt, strict=False):
                if a != b:
                    break
                n += 1
            if n > reuse:
                best, reuse = slot, n
        reuse = min(reuse, len(prompt) - 1)  # the last prompt token is decoded again for its logits
        return (best, reuse) if reuse >= MIN_REUSE else (min(self.free), 0)

    def _dropped(self, seq: _Sequence) -> bool:
        if seq.job.cancelled:
            self._release(seq, keep=False)
        return seq.job.cancelled

    def _drain(self) -> None:
        """After stop: answer whatever still waits."""
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                job.resolve(NotReady("the engine is closed"))

    # ---- one step ----------------------------------------------------------------------------------------

    def _step(self) -> None:
        entries: list[tuple[int, int, int, bool]] = []
        outputs: list[_Sequence] = []
        room = self.model.n_batch
        takes: dict[int, int] = {}
        # running sequences (one token each) first, so a long prompt never holds up their next token
        for seq in sorted(self.running, key=lambda s: len(s.pending)):
            takes[seq.slot] = min(len(seq.pending), room)
            room -= takes[seq.slot]
        # in slot order: llama.cpp decodes consecutive KV streams in one micro-batch, a gap splits it
        for seq in sorted(self.running, key=lambda s: s.slot):
            n = takes[seq.slot]
            if not n:
                continue
            last = n == len(seq.pending)
            entries.extend((t, seq.position + i, seq.slot, last and i == n - 1)
                           for i, t in enumerate(seq.pending[:n]))
            seq.position += n
            seq.pending = seq.pending[n:]
            if last:
                outputs.append(seq)
        clock = time.perf_counter
        start = clock()
        self.model.decode(entries)
        decoded = clock()
        self.stats.add(steps=1, tokens_in=len(entries), decode_s=decoded - start)
        if not outputs:
            return
        logits = self.model.logits(len(outputs))
        bitmask = self.bitmask[: len(outputs)]
        for row, seq in enumerate(outputs):
            seq.row.fill(self.bitmask, row)
        filled = clock()
        apply_bitmask(self.torch.from_numpy(logits), bitmask)
        masked = clock()
        self.stats.add(fill_mask_s=filled - decoded, apply_mask_s=masked - filled, tokens_out=len(outputs))
        self._choose(outputs, logits)
        self.stats.add(sample_s=clock() - masked)

    def _choose(self, outputs: list[_Sequence], logits: Any) -> None:
        for row, seq in enumerate(outputs):
            try:
                token = self._sample(logits[row], seq)
                reason = seq.row.advance(token, context_full=seq.position + 1 >= self.model.n_ctx_seq)
            except LiftinferError as exc:  # this request fails; the others go on
                reason, error = "error", exc
            if reason is None:
                seq.pending = [token]
                continue
            self._finish(seq, error if reason == "error" else self._completion(seq, reason))
            self.running.remove(seq)

    def _sample(self, logits: Any, seq: _Sequence) -> int:
        np = self.np
        if seq.rng is None:
            return int(logits.argmax())
        allowed = np.flatnonzero(np.isfinite(logits))
        scaled = logits[allowed].astype(np.float64) / seq.job.prepared.temperature
        probs = np.exp(scaled - scaled.max())
        probs /= probs.sum()
        top_p = seq.job.prepared.request.top_p
        if top_p < 1.0:
            order = np.argsort(-probs, kind="stable")
            keep = order[: int(np.searchsorted(np.cumsum(probs[order]), top_p)) + 1]
            allowed, probs = allowed[keep], probs[keep] / probs[keep].sum()
        return int(seq.rng.choice(allowed, p=probs))

    # ---- finishing ----------------------------------------------------------------------------------------

    def _completion(self, seq: _Sequence, reason: str) -> Completion:
        return seq.row.completion(reason, prompt_tokens=len(seq.prompt), started=seq.started)

    def _finish(self, seq: _Sequence, value: Completion | BaseException) -> None:
        self._release(seq, keep=isinstance(value, Completion))
        seq.job.resolve(value)

    def _release(self, seq: _Sequence, keep: bool) -> None:
        """Free the slot; ``keep`` leaves the tokens decoded so far in its KV cache for the next request."""
        if keep:
            self.cached[seq.slot] = (seq.prompt + seq.row.tokens)[: seq.position]
        else:
            self.model.forget(seq.slot)
        self.free.append(seq.slot)
