"""A random-weight Llama (7.4B or 1B) with SmolLM2's tokenizer, for throughput runs on the device.

Usage: python3 mkrandom.py TOKENIZER_DIR SIZE OUT_DIR   (SIZE: 8b or 1b; the shapes of shared/device's probe)
"""

import sys
import time

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

DIMS = {
    "8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=8),
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8),
}


def main(tokenizer_dir: str, size: str, out: str) -> None:
    start = time.time()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=8192, rope_theta=500000.0,
                         tie_word_embeddings=False, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, torch_dtype="bfloat16", **DIMS[size])
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out, max_shard_size="2GB")
    tokenizer.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters()) / 1e9
    print(f"random model {size}: {params:.2f}B params in {out} ({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
