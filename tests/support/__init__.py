"""Everything the tests and benchmarks stand up around AnyChat, in one place.

- ``fake_openai``: an OpenAI-compatible upstream on 127.0.0.1 (directives, replies, http);
- ``app_process``: AnyChat itself as a ``streamlit run server.py`` process on a free port;
- ``postgres_server``: a throwaway PostgreSQL cluster;
- ``oidc_provider``: a stand-in OpenID Connect identity provider;
- ``old_schema``: databases at an older schema revision, for migration tests;
- ``markdown``: where Markdown still holds an image, and what a code span shows.
"""
