"""AnyChat storage benchmark: how the pages' use cases scale with a big library.

Usage (from the project folder, after ``scripts/install.sh dev``; run as a module so that the
fake server and PostgreSQL launcher import from ``tests.support``)::

    .venv/bin/python -m bench.storage --quick                  # smoke run, SQLite, ~1 minute
    .venv/bin/python -m bench.storage --db sqlite --sizes 10k,100k
    .venv/bin/python -m bench.storage                          # both databases, 10k/100k/1m

One person's library (the single user of ``ANYCHAT_AUTH=none``, so the browser sees it too):
conversations of 100 messages each (100, 1,000 or 10,000 of them: 10k, 100k or 1M messages)
plus one of 5,000, as trees the app writes (regenerated replies, edited questions, n choices,
tool calls), in mixed English and Chinese (``dataset``, ``text``). Libraries are written with
multi-row INSERTs or COPY, each size growing the one before; SQLite files are kept between runs
in ``--cache`` (keyed by the dataset code, the schema and the seed) and copied for each run.
PostgreSQL is a throwaway cluster on 127.0.0.1 (tests/support/postgres_server.py).

For each database and size it prints median and p95 of ``--reps`` repetitions (fewer when a
figure's ``--budget`` seconds run out) of: the sidebar's list, opening the 5,000-message
conversation and a 100-message one (the 20 messages the page draws), its token total, landing
on its 100th message, reading its whole thread, starting a reply in it (to the request handed
to the worker, then the worker's own read of the history), full-text search in English and in
Chinese (``services.search``, "n/a" until it exists), importing a ChatGPT export of
``--transfer`` conversations and exporting them (``services.transfer``). At the largest size it
also loads the chat page in Chromium (``browser``): navigation start to the chat input shown.

Everything is bounded: ``--reps``, ``--budget`` per figure, ``--timeout`` for the run; the
measurements' changes are undone; every process started is stopped by its id.

Modules: ``dataset`` and ``text`` (the library), ``chatgpt`` (the export to import),
``measure`` (the figures), ``browser`` (the page in Chromium), ``cli`` (options, run, tables).
"""
