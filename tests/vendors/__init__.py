"""Vendors played by local HTTP servers: each checks method, path, auth and body against a
JSON Schema written from the vendor's API reference (cited per schema), and answers as
the vendor does, including its rate-limit and server errors."""
