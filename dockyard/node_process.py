"""A joined node's one process: its Celery worker and its agent in one interpreter.

    python -m dockyard.node_process            # serve (what `make node` supervises)
    python -m dockyard.node_process --prepare  # check the credentials, register the node, exit

A node used to run the worker and the agent as processes of their own, each importing Django,
Celery and the engine's task modules; together here they hold that once, which is most of
what brings a joined node under dockerd + containerd's resident memory (bench/cluster.py).
The worker consumes only this node's queue, in the main thread, where Celery's signal
handlers give it a warm shutdown on SIGTERM; the agent's event loop runs in a thread beside
it. When the agent fails, the worker is stopped too and the process exits with an error, so
the supervisor starts both again.
"""

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from celery.concurrency.thread import TaskPool
from celery.utils.nodenames import default_nodename, host_format

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockyard.settings")

log = logging.getLogger(__name__)

# The worker's thread pool, as `make up`'s worker has it (dockyard/services.py).
WORKER_THREADS = 16
# How long a stopping agent may take to close its servers before the process ends anyway.
AGENT_STOP_SECONDS = 3.0


class LoginFailed(RuntimeError):
    pass


def check_credentials(database_url: str) -> None:
    """Log in to the database once before anything else, so a revoked node says so instead
    of failing in a loop."""
    import psycopg

    try:
        psycopg.connect(database_url, connect_timeout=10).close()
    except psycopg.OperationalError as e:
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "password authentication failed" in text or "not permitted to log in" in text:
            raise LoginFailed(
                "the control plane refused this node's credentials: it was revoked. "
                "Join again with a new token (manage.py join_token on the control plane)."
            ) from None
        raise LoginFailed(f"cannot reach the control plane's database: {text}") from None


class AgentThread(threading.Thread):
    """The node agent's event loop (engine.agent.service.Agent) on a thread of its own."""

    def __init__(self) -> None:
        super().__init__(name="agent", daemon=True)
        self.failed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    def run(self) -> None:
        import uvloop

        from engine.agent.service import ready_file

        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("the node agent failed; stopping the worker so both start again")
            self.failed = True
            # Celery's handler in the main thread turns this into a warm shutdown.
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            ready_file().unlink(missing_ok=True)

    async def _serve(self) -> None:
        from engine.agent.service import Agent

        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        await Agent().run()

    def stop(self) -> None:
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            loop.call_soon_threadsafe(task.cancel)
        self.join(AGENT_STOP_SECONDS)


class JoinablePool(TaskPool):
    """Celery's thread pool, except that waiting for a task's result does not raise.

    Celery keeps one flag for the whole process, taken from the pool, that makes any wait
    for a result raise ("never call result.get() within a task"). The agent's threads wait
    for results of this node's own tasks (engine.nodes.run_on_node), as they did in a process
    of their own; no task the worker runs waits for another.
    """

    task_join_will_block = False


def run_worker(node: str, pidfile: Path) -> int:
    """What `celery -A dockyard worker -Q node.<node> -P threads` runs, until a signal ends it;
    answers its exit code."""
    from .celery import app

    worker = app.Worker(
        hostname=host_format(default_nodename(f"{node}@%h")),
        queues=[f"node.{node}"],
        pool_cls=JoinablePool,
        concurrency=WORKER_THREADS,
        without_gossip=True,
        without_mingle=True,
        loglevel="WARNING",
        # Celery writes it once every task module is imported, before it serves.
        pidfile=str(pidfile),
    )
    worker.start()
    return worker.exitcode or 0


def prepare() -> None:
    """Check the credentials, fix up the host for crun and register the node's facts."""
    check_credentials(os.environ["DATABASE_URL"])
    import django
    from django.core.management import call_command

    django.setup()
    call_command("prepare_node")


def serve() -> int:
    import django
    from django.conf import settings

    django.setup()
    pidfile = settings.DOCKYARD_RUN_DIR / "worker.pid"
    pidfile.unlink(missing_ok=True)
    agent = AgentThread()
    agent.start()
    code = run_worker(settings.DOCKYARD_NODE, pidfile)
    agent.stop()
    return 1 if agent.failed else code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dockyard.node_process", description=__doc__)
    parser.add_argument("--prepare", action="store_true", help="prepare the node and exit")
    args = parser.parse_args(argv)
    if not args.prepare:
        return serve()
    try:
        prepare()
    except LoginFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: the agent's stream threads may still block on a followed log or a
    # process, and the interpreter would wait for them; they hold nothing to save.
    os._exit(code)
