"""Function tools: what the user defines, and the built-ins the app answers itself."""
