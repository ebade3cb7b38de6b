import pytest

from liftinfer.backends.chat import chat_token_ids


@pytest.mark.model
def test_a_chat_is_rendered_through_the_model_s_template_with_the_generation_prompt(real_engine):
    tokenizer = real_engine.tokenizer
    ids = chat_token_ids(tokenizer, [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    text = tokenizer.decode(ids)
    assert text.index("Be brief.") < text.index("Hi")
    assert text.rstrip().endswith("assistant")  # the model answers next
