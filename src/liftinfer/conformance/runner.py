"""Run cases through liftinfer's constraint layer (and raw xgrammar, the baseline), in worker processes.

Each schema is checked and compiled with the real tokenizer, then every instance is fed through the
compiled grammar (:mod:`liftinfer.conformance.search`). Grammar-level counts are the primary numbers;
for liftinfer each instance the grammar accepts is also post-validated, as a request would be, to show
that no invalid instance is ever returned end to end.

Work runs in worker processes because a grammar compilation cannot be interrupted: a worker whose
compilation ran past the limit is replaced, so the runaway stops and does not slow the next schema.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any

from liftinfer.conformance.corpus import Case
from liftinfer.conformance.search import DEFAULT_BUDGET, grammar_accepts, key_ranks

SUBJECTS = ("liftinfer", "xgrammar")
_MAX_FAILURES_KEPT = 5


@dataclass
class Setup:
    """What a worker needs to rebuild the tokenizer and the subjects."""

    vocabulary: (
        str  # "model" (a Hugging Face tokenizer directory) or "bytes" (256 one-byte tokens, for tests)
    )
    tokenizer_dir: str | None = None
    vocab_size: int | None = None
    compile_timeout_s: float = 10.0
    budget: int = DEFAULT_BUDGET
    strict: bool = False
    closed_objects: bool = False  # generation's default is True; conformance measures JSON Schema's grammar


def tokenizer_info(setup: Setup) -> Any:
    import xgrammar as xgr

    if setup.vocabulary == "bytes":
        return xgr.TokenizerInfo([bytes([b]) for b in range(256)] + [b"</s>"], stop_token_ids=[256])
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(setup.tokenizer_dir)
    return xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=setup.vocab_size)


class LiftinferSubject:
    """liftinfer's ConstraintBuilder, uncached, as a request would use it (``strict`` as set up)."""

    name = "liftinfer"

    def __init__(self, info: Any, setup: Setup) -> None:
        from liftinfer.constraints.builder import ConstraintBuilder

        self.setup = setup
        self.builder = ConstraintBuilder(
            info,
            cache_bytes=0,
            compile_timeout_s=setup.compile_timeout_s,
            compile_workers=1,
            closed_objects=setup.closed_objects,
        )

    def check(self, case: Case) -> dict[str, Any]:
        from liftinfer.errors import SchemaError

        row = _row(self.name, case)
        start = time.perf_counter()
        try:
            constraint = self.builder.build(case.schema, strict=self.setup.strict)
        except SchemaError as exc:
            row.update(
                status="unsupported",
                error_type=exc.type,
                reason=exc.message,
                compile_ms=_ms(start),
                dirty=self._dirty(),
            )
            return row
        row.update(
            status="compiled",
            compile_ms=_ms(start),
            engine=constraint.engine,
            validation_only=constraint.enforcement.get("validation_only", []),
            dirty=self._dirty(),
        )
        _feed_instances(row, case, constraint.matcher, self.setup.budget, constraint.verify)
        return row

    def _dirty(self) -> bool:
        deadline = time.monotonic() + 0.2  # a finished compilation's callback may lag its result a little
        while self.builder.abandoned_compilations and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.builder.abandoned_compilations > 0


class RawXGrammarSubject:
    """xgrammar alone: the user's schema as it is, compact output, JSON Schema semantics (not strict mode)."""

    name = "xgrammar"

    def __init__(self, info: Any, setup: Setup) -> None:
        import xgrammar as xgr

        self.xgr = xgr
        self.setup = setup
        self.compiler = xgr.GrammarCompiler(info, cache_enabled=False)

    def check(self, case: Case) -> dict[str, Any]:
        import json

        row = _row(self.name, case)
        result: dict[str, Any] = {}

        def compile_it() -> None:
            try:
                result["grammar"] = self.compiler.compile_json_schema(
                    json.dumps(case.schema), any_whitespace=False, separators=(",", ":"), strict_mode=False
                )
            except Exception as exc:  # xgrammar raises RuntimeError, and others on odd input
                result["error"] = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)

        start = time.perf_counter()
        thread = threading.Thread(target=compile_it, daemon=True)
        thread.start()
        thread.join(self.setup.compile_timeout_s)
        if thread.is_alive():
            row.update(
                status="unsupported",
                error_type="timeout",
                compile_ms=_ms(start),
                dirty=True,
                reason=f"compilation ran past the {self.setup.compile_timeout_s:g} s limit",
            )
            return row
        if "error" in result:
            row.update(
                status="unsupported",
                error_type="compile_error",
                reason=result["error"][:500],
                compile_ms=_ms(start),
            )
            return row
        row.update(status="compiled", compile_ms=_ms(start), engine="xgrammar")
        grammar = result["grammar"]
        _feed_instances(row, case, lambda: self.xgr.GrammarMatcher(grammar), self.setup.budget, None)
        return row


def _row(subject: str, case: Case) -> dict[str, Any]:
    return {
        "subject": subject,
        "name": case.name,
        "status": "",
        "error_type": None,
        "reason": None,
        "engine": None,
        "validation_only": [],
        "compile_ms": 0.0,
        "tests": len(case.instances),
        "valid": sum(i.valid for i in case.instances),
        "wrongly_rejected_valid": 0,
        "wrongly_accepted_invalid": 0,
        "search_exhausted": 0,
        "invalid_returned": 0,
        "valid_refused_by_validation": 0,
        "passed": False,
        "failures": [],
        "dirty": False,
    }


def _feed_instances(row: dict[str, Any], case: Case, new_matcher: Any, budget: int, verify: Any) -> None:
    from liftinfer.errors import OutputInvalid

    ranks = key_ranks(case.schema)
    for index, instance in enumerate(case.instances):
        verdict = grammar_accepts(new_matcher(), instance.data, ranks, budget)
        row["search_exhausted"] += verdict.exhausted
        wrong = verdict.accepted != instance.valid
        if wrong:
            row["wrongly_rejected_valid" if instance.valid else "wrongly_accepted_invalid"] += 1
            if len(row["failures"]) < _MAX_FAILURES_KEPT:
                row["failures"].append(
                    {
                        "index": index,
                        "valid": instance.valid,
                        "description": instance.description,
                        "exhausted": verdict.exhausted,
                    }
                )
        if verify is None or not verdict.accepted or verdict.text is None:
            continue
        try:
            verify(verdict.text, "stop")
        except OutputInvalid:
            row["valid_refused_by_validation"] += instance.valid
            continue
        row["invalid_returned"] += not instance.valid
    row["passed"] = not row["wrongly_rejected_valid"] and not row["wrongly_accepted_invalid"]


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


# ---- worker processes -------------------------------------------------------------------------------


def _worker_main(conn: Connection, setup: Setup, subjects: tuple[str, ...]) -> None:
    info = tokenizer_info(setup)
    made: dict[str, Any] = {}
    if "liftinfer" in subjects:
        made["liftinfer"] = LiftinferSubject(info, setup)
    if "xgrammar" in subjects:
        made["xgrammar"] = RawXGrammarSubject(info, setup)
    conn.send("ready")
    while True:
        task = conn.recv()
        if task is None:
            return
        subject, case = task
        try:
            row = made[subject].check(case)
        except Exception as exc:  # one odd schema must not end the run: report it as that schema's failure
            row = _row(subject, case)
            row.update(
                status="unsupported", error_type="harness_error", reason=f"{type(exc).__name__}: {exc}"
            )
        conn.send(row)
        if row.get("dirty"):
            return  # a compilation is still running here: the parent starts a fresh worker


class _Worker:
    def __init__(self, setup: Setup, subjects: tuple[str, ...]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, setup, subjects), daemon=True)
        self.process.start()
        child.close()
        if not self.conn.poll(600) or self.conn.recv() != "ready":
            self.stop()
            raise RuntimeError("a conformance worker did not start")

    def run(self, subject: str, case: Case, limit_s: float) -> dict[str, Any] | None:
        """The case's row, or None if the worker ran past ``limit_s`` or died (it is then stopped)."""
        self.conn.send((subject, case))
        try:
            if self.conn.poll(limit_s):
                row: dict[str, Any] = self.conn.recv()
                return row
        except (EOFError, OSError):
            pass
        self.stop()
        return None

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(5)
        self.stop()


def run_cases(
    cases: list[Case], setup: Setup, subjects: tuple[str, ...] = SUBJECTS, progress: Any = None
) -> list[dict[str, Any]]:
    """One row per case and subject, in case order; ``progress(done, total, row)`` after each."""
    # Past compile limit + instance time the worker is stuck; its case is reported, the worker replaced.
    limit_s = setup.compile_timeout_s * 3 + 120
    worker: _Worker | None = None
    rows: list[dict[str, Any]] = []
    total = len(cases) * len(subjects)
    try:
        for case in cases:
            for subject in subjects:
                if worker is None:
                    worker = _Worker(setup, subjects)
                row = worker.run(subject, case, limit_s)
                if row is None:
                    worker = None
                    row = _row(subject, case)
                    row.update(
                        status="unsupported",
                        error_type="harness_timeout",
                        reason=f"checking took longer than {limit_s:g} s",
                    )
                elif row.get("dirty"):
                    worker.close()
                    worker = None
                rows.append(row)
                if progress is not None:
                    progress(len(rows), total, row)
    finally:
        if worker is not None:
            worker.close()
    return rows


def setup_dict(setup: Setup) -> dict[str, Any]:
    return asdict(setup)
