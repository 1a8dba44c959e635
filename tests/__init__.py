"""AnyChat's tests: a package, so pytest puts the project folder on sys.path and test code
imports its helpers by full name (``tests.support``) next to chatcore, storage, ui and web."""
