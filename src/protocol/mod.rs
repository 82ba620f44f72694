//! Wire protocols: HTTP/1.1 and uwsgi. Pure functions from bytes to typed heads.
