"""The development server's access log, readable: nothing for static files (a page
brings its style sheet, script and icon along), and other requests in one short
line: method, path, status."""

from __future__ import annotations

import logging
import re

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_REQUEST = re.compile(r"^(?P<method>[A-Z]+) (?P<path>\S+)(?: HTTP/[0-9.]+)?$")


class QuietAccessLog(logging.Filter):
    """A filter for the `werkzeug` logger; its other lines pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not (isinstance(args, tuple) and len(args) == 3 and '"%s"' in str(record.msg)):
            return True
        request = _REQUEST.match(_ANSI.sub("", str(args[0])))
        if request is None:
            return True
        path = request.group("path")
        if path.startswith("/static/") or path == "/favicon.ico":
            return False
        status = _ANSI.sub("", str(args[1]))
        record.msg, record.args = "%s %s %s", (request.group("method"), path, status)
        return True
