"""Benchmarks, one module a question. Run them as modules from the repository root
(``python -m bench.dispatch``): bench/http.py would shadow the standard library's http package
for a script run as a file from this folder."""
