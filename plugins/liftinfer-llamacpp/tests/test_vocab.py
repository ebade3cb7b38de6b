"""Token ids must mean the same thing to llama.cpp, to the grammar matcher and to the original tokenizer."""

from __future__ import annotations

import importlib.util

import pytest

pytestmark = pytest.mark.model

CHAT = [{"role": "system", "content": "Answer in JSON."},
        {"role": "user", "content": "A person named Ada, 36."}]


@pytest.fixture(scope="module")
def hf_tokenizer(engine):
    """SmolLM2's tokenizer as transformers reads it from the same GGUF."""
    if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("needs transformers and gguf (pip install 'liftinfer-llamacpp[test]')")
    from transformers import AutoTokenizer

    path = engine.model.path
    return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


def test_the_grammar_vocabulary_is_llama_cpps_detokenizer(engine):
    info = engine.tokenizer_info()
    model = engine.model
    assert info.vocab_size == model.n_vocab
    decoded = info.decoded_vocab
    assert all(decoded[t] == model.pieces[t] for t in range(model.n_vocab))
    assert model.stop_ids and set(model.stop_ids) <= set(info.stop_token_ids)


def test_control_tokens_are_special_not_text(engine):
    info = engine.tokenizer_info()
    im_start = engine.model.tokenize("<|im_start|>")
    assert len(im_start) == 1
    assert engine.model.pieces[im_start[0]] == b""
    assert im_start[0] in set(info.special_token_ids)


def test_ids_and_texts_match_the_hf_tokenizer(engine, hf_tokenizer):
    """SmolLM2 is byte-level BPE: the GGUF's token strings are the HF vocabulary, id for id, and
    decoding every normal token gives the bytes llama.cpp gives."""
    lc, model = engine.model.lc, engine.model
    assert len(hf_tokenizer) == model.n_vocab
    for token in range(model.n_vocab):
        text = lc.llama_vocab_get_text(model.vocab, token).decode()
        assert text == hf_tokenizer.convert_ids_to_tokens(token)
    sample = range(0, model.n_vocab, 97)
    for token in sample:
        if model.pieces[token] and model.pieces[token].decode(errors="ignore") == model.pieces[token].decode(
                errors="replace"):
            assert hf_tokenizer.decode([token]) == model.pieces[token].decode()


def test_the_chat_prompt_is_tokenized_as_transformers_does(engine, hf_tokenizer):
    text = hf_tokenizer.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    expected = hf_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert engine.model.render(CHAT) == list(expected)
