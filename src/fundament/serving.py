"""uvicorn's server and worker supervisor, made to never skip the app's shutdown.

uvicorn skips the lifespan shutdown on a second Ctrl-C (``force_exit``); ours only stops
waiting for open connections then: the final usage flush and the rate-limit sync still
run, bounded by the app's own timeouts. With several workers, each worker process runs
this server too (uvicorn's supervisor would build its stock one in the child), so a
terminal's Ctrl-C, which reaches every worker directly, loses nothing either.
"""

from __future__ import annotations

import socket
import sys

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess, Process


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, announce: str | None = None) -> None:
        super().__init__(config)
        self.announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.announce:
            print(self.announce, file=sys.stderr, flush=True)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        if self.force_exit:
            await self.lifespan.shutdown()


class _Worker(Process):
    # Unpickled in the spawned child, which then builds this module's server.
    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = Server(self.config)
        return self._server


class Workers(Multiprocess):
    """uvicorn's supervisor, starting workers that run :class:`Server`. (A SIGHUP's
    restart uses uvicorn's own workers, which skip the flush only on a forced exit.)"""

    def init_processes(self) -> None:
        for _ in range(self.processes_num):
            process = _Worker(self.config, self.sockets)
            process.start()
            self.processes.append(process)
