"""A GGUF model in llama.cpp, through llama-cpp-python's low-level (ctypes) API.

One model, one context with a KV-cache stream per sequence slot, one reusable batch. The vocabulary
liftinfer's grammars are compiled for is built from llama.cpp's own detokenizer (``token_to_piece``),
so a token id means the same bytes to the grammar matcher and to the text this backend returns.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path
from typing import Any

from liftinfer.plugin import BackendError, ModelSourceError, NotReady, RequestError, import_xgrammar

# Control, unknown and unused tokens are never part of the text: an empty piece makes xgrammar treat
# them as special (forbidden inside the JSON; the end-of-generation ones are its stop tokens).
_NOT_TEXT = 1 << 0 | 1 << 1 | 1 << 3  # LLAMA_TOKEN_ATTR_UNKNOWN | _UNUSED | _CONTROL

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        from liftinfer.plugin import MissingDependency

        raise MissingDependency("llama-cpp-python", "llamacpp", "The llamacpp backend",
                                install="pip install liftinfer-llamacpp") from None
    return llama_cpp


class GGUFModel:
    """A loaded GGUF: vocabulary, chat template, and a context that decodes ``n_seq`` sequences at once."""

    def __init__(
        self,
        path: Path,
        *,
        n_threads: int,
        n_seq: int,
        n_ctx_seq: int,
        n_batch: int = 512,
        flash_attn: bool | None = None,
        kv_unified: bool = False,
        verbose: bool = False,
    ) -> None:
        lc = self.lc = import_llama_cpp()
        logging.getLogger("llama-cpp-python").setLevel(logging.DEBUG if verbose else logging.ERROR)
        lc.llama_backend_init()
        self.path = path
        self.model = lc.llama_model_load_from_file(str(path).encode(), lc.llama_model_default_params())
        if not self.model:
            raise ModelSourceError(f"llama.cpp could not load {path} (not a GGUF file it supports?)")
        self.vocab = lc.llama_model_get_vocab(self.model)
        self.n_vocab = int(lc.llama_vocab_n_tokens(self.vocab))
        self.n_seq = max(1, min(n_seq, int(lc.llama_max_parallel_sequences())))
        self.n_ctx_seq = max(64, min(n_ctx_seq, int(lc.llama_model_n_ctx_train(self.model))))
        self.n_batch = max(n_batch, self.n_seq)
        params = lc.llama_context_default_params()
        params.n_ctx = self.n_ctx_seq * self.n_seq
        params.n_batch = self.n_batch
        params.n_ubatch = min(self.n_batch, 512)
        params.n_seq_max = self.n_seq
        params.n_threads = params.n_threads_batch = n_threads
        # one KV stream per slot: attention reads only the sequence's own tokens (unified: all slots')
        params.kv_unified = kv_unified
        params.no_perf = True
        if flash_attn is not None:
            params.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn else (
                lc.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        self.ctx = lc.llama_init_from_model(self.model, params)
        if not self.ctx:
            lc.llama_model_free(self.model)
            raise BackendError(f"llama.cpp could not create a {params.n_ctx}-token context for {path.name}")
        self.memory = lc.llama_get_memory(self.ctx)
        self.batch = lc.llama_batch_init(self.n_batch, 0, 1)
        self.pieces = [self._piece(t) for t in range(self.n_vocab)]
        self.stop_ids = [t for t in range(self.n_vocab) if lc.llama_vocab_is_eog(self.vocab, t)]
        self._formatter: Any = None

    # ---- vocabulary --------------------------------------------------------------------------------------

    def _piece(self, token: int, special: bool = False) -> bytes:
        lc = self.lc
        if not special and lc.llama_vocab_get_attr(self.vocab, token) & _NOT_TEXT:
            return b""
        buf = ctypes.create_string_buffer(64)
        n = lc.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = lc.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
        return buf.raw[:n]

    def _special_text(self, token: int) -> str:
        return self._piece(token, special=True).decode(errors="replace") if token >= 0 else ""

    def tokenizer_info(self) -> Any:
        """xgrammar's view of this vocabulary: each token is exactly the bytes llama.cpp detokenizes it to."""
        xgr = import_xgrammar()
        return xgr.TokenizerInfo(self.pieces, xgr.VocabType.RAW, vocab_size=self.n_vocab,
                                 stop_token_ids=self.stop_ids, add_prefix_space=False)

    def _check_open(self) -> None:
        if self.ctx is None:  # calling into freed llama.cpp memory would crash the process
            raise NotReady("the llama.cpp model is closed")

    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        self._check_open()
        data = text.encode()
        capacity = len(data) + 8
        tokens = (self.lc.llama_token * capacity)()
        n = self.lc.llama_tokenize(self.vocab, data, len(data), tokens, capacity, add_special, True)
        if n < 0:
            capacity = -n
            tokens = (self.lc.llama_token * capacity)()
            n = self.lc.llama_tokenize(self.vocab, data, len(data), tokens, capacity, add_special, True)
        return list(tokens[:n])

    def detokenize(self, tokens: list[int]) -> str:
        return b"".join(self.pieces[t] for t in tokens).decode("utf-8", errors="replace")

    # ---- prompts -----------------------------------------------------------------------------------------

    def render(self, chat: list[dict[str, str]]) -> list[int]:
        """The chat, formatted with the GGUF's own chat template (ChatML if it has none), as token ids."""
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            template = self.lc.llama_model_chat_template(self.model, None)
            self._bos = self._special_text(self.lc.llama_vocab_bos(self.vocab))
            eos = self._special_text(self.lc.llama_vocab_eos(self.vocab))
            self._formatter = Jinja2ChatFormatter(template.decode() if template else CHATML, eos_token=eos,
                                                  bos_token=self._bos)
        prompt = self._formatter(messages=chat).prompt
        add_bos = bool(self.lc.llama_vocab_get_add_bos(self.vocab)) and not (
            self._bos and prompt.startswith(self._bos))
        return self.tokenize(prompt, add_special=add_bos)

    # ---- decoding ----------------------------------------------------------------------------------------

    def decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """Run one batch of ``(token, position, sequence, wants_logits)``; logits rows follow the order."""
        self._check_open()
        batch = self.batch
        for i, (token, pos, seq, logits) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        batch.n_tokens = len(entries)
        status = self.lc.llama_decode(self.ctx, batch)
        if status != 0:
            raise BackendError(f"llama_decode failed with status {status}")

    def logits(self, rows: int) -> Any:
        """The last batch's logits, ``rows x n_vocab`` float32: a writable view on llama.cpp's buffer."""
        import numpy as np

        self._check_open()
        pointer = self.lc.llama_get_logits(self.ctx)
        return np.ctypeslib.as_array(pointer, shape=(rows, self.n_vocab))

    def forget(self, seq: int, keep: int = 0) -> bool:
        """Drop a sequence's KV cache from position ``keep`` on; False if llama.cpp cannot cut it there."""
        self._check_open()
        return bool(self.lc.llama_memory_seq_rm(self.memory, seq, keep, -1))

    def check_prompt(self, prompt: list[int]) -> None:
        if len(prompt) >= self.n_ctx_seq:
            raise RequestError(
                f"prompt is {len(prompt)} tokens; this engine's context holds {self.n_ctx_seq} per request "
                "(engine option n_ctx, or max_model_len)", field="messages")

    def close(self) -> None:
        lc = self.lc
        if self.ctx is not None:
            lc.llama_batch_free(self.batch)
            lc.llama_free(self.ctx)
            self.ctx = None
        if self.model is not None:
            lc.llama_model_free(self.model)
            self.model = None
