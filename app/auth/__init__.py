"""Authentication: htpasswd files of bcrypt hashes, and the server's credential check.

``htpasswd`` reads and writes the file (shared by ``torc-htpasswd`` and the server);
``authenticator`` verifies a request's credentials with a cache and reloads the file when it
changes. Who may do what once identified is decided in ``app.api.access_guard``.
"""
