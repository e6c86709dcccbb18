"""The local backend: each API a supervised process on 127.0.0.1, state in `.mlserve/`.

Import `mlserve.deploy.local.backend.LocalBackend`; this package file stays empty so the
per-API supervisor process (`python -m mlserve.deploy.local.supervisor`) loads only what it uses.
"""
