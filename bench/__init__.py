"""Benchmarks that print figures; run each as a module, e.g. `python -m bench.chat_latency`."""
