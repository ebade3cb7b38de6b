"""``liftinfer bench``: the same workload through liftinfer (library and HTTP) and raw vLLM, side by side.

Each scenario runs in a fresh process (``python -m liftinfer.bench.worker``), one after the other, so
start-up times are real and GPU memory is free for the next. Results print as a table and go to JSON.
"""
