"""``python -m tests.support.fake_openai``: serve until Ctrl-C, printing base_url first."""

from __future__ import annotations

import argparse
import time

from tests.support.fake_openai import Behavior, FakeOpenAI


def main(argv: list[str] | None = None) -> None:
    """Serve until Ctrl-C; prints base_url first so scripts can read it."""
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--first-token-delay", type=float, default=0.0)
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    fake = FakeOpenAI(host=args.host, port=args.port)
    fake.default = Behavior(first_token_delay=args.first_token_delay, chunk_delay=args.chunk_delay)
    fake.start()
    print(fake.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
