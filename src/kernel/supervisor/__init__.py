"""The multi-process server: a supervisor and ``workers`` server processes sharing sockets.

See ``kernel.supervisor.parent`` for what the supervisor does and ``kernel.supervisor.child``
for a server process.
"""

from __future__ import annotations

from kernel.supervisor.parent import Supervisor, supervise

__all__ = ["Supervisor", "supervise"]
