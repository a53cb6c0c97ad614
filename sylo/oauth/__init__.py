"""Sylo as the OAuth 2.1 authorization server of its own MCP endpoint (reference/protocols.md §1.6).

Plain Python over the app DB; the Flask side (`api/oauth*.py`, the consent page) wires it to
Authlib's server. `uris` holds the rules for redirect URIs and the protected resource, `scopes`
what a grant may do, `store` the clients, codes, grants and tokens (hashed), `client_metadata`
the fetch of client ID metadata documents, `models` the shapes Authlib asks for.
"""
