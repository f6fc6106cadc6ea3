"""What the agent does for each kind of stream; all talk to the runtime on this node."""

from .archives import (
    handle_archive_file,
    handle_archive_get,
    handle_archive_put,
    handle_container_export,
)
from .containers import handle_attach, handle_logs, handle_stats
from .execs import handle_exec, handle_exec_resize
from .images import handle_build, handle_image_import, handle_image_load, handle_image_save

HANDLERS = {
    "attach": handle_attach,
    "logs": handle_logs,
    "stats": handle_stats,
    "exec": handle_exec,
    "exec_resize": handle_exec_resize,
    "archive_get": handle_archive_get,
    "archive_file": handle_archive_file,
    "archive_put": handle_archive_put,
    "build": handle_build,
    "image_load": handle_image_load,
    "image_import": handle_image_import,
    "image_save": handle_image_save,
    "container_export": handle_container_export,
}
