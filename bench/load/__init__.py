"""AnyChat load benchmark: U simulated teammates, each sending T messages with a think time.

Usage (from the project folder, after ``scripts/install.sh dev``; run as a module so that the
fake server and the app launcher import from ``tests.support``)::

    .venv/bin/python -m bench.load                       # 10, 20, 40 users; 1 and 2 processes
    .venv/bin/python -m bench.load --users 5 --turns 3   # a quick check, about 2 minutes
    .venv/bin/python -m bench.load --users 20 --processes 1 --databases sqlite

For each number of teammates it starts the real app (``streamlit run server.py``, as the browser
tests start it, with ``ANYCHAT_AUTH=none``: every teammate shares the one implicit account) on
127.0.0.1: one process on SQLite, one on PostgreSQL, and two processes sharing one PostgreSQL
database; all against the fake OpenAI server (200 ms to the first token, then ~50 words). Each
teammate is a light client speaking Streamlit's own websocket protocol (``protocol``), not a
browser: 40 Chromium tabs would take the two cores the servers are measured on.

It prints one Markdown table row per configuration (completed turns per minute, first-token
overhead p50/p95, messages lost, replies not completed, "database is locked" in the app logs,
the cross-process follow lag, server CPU and memory; definitions in ``report``), then each goal
from the issue met or missed, and saves the same figures as JSON in ``bench/results/``.
Everything is bounded: ``--time-limit`` seconds of load per configuration (default 240), an
overall budget after which it stops, and every process it started is stopped by its id.

Modules: ``protocol`` (the websocket client), ``scenario`` (teammates and followers),
``servers`` (fake upstream, PostgreSQL, app processes), ``resources`` (CPU and memory),
``verify`` (database and logs), ``report`` (figures, goals, table), ``cli`` (options, the run).
"""
