"""Accounts, roles and sessions of the gateway: argon2 passwords, signed short-lived tokens
(OAuth2 bearer for API clients, a cookie with CSRF protection for the console), per-endpoint
role checks, department scope and rate limits."""
