"""Grafts, shared by the client and the backend: their syntax and writer (``_syntax``), the interpreter
(``_interpreter``) and the builtins it runs (``_builtins``, with the raster builtins in ``_raster``): one
vocabulary, the Descartes Labs client's."""
