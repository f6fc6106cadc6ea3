"""Names of files in DOCKYARD_ROOT that more than one process reads or writes."""

# The generated admin password: `manage.py ensure_admin` writes it, the launcher shows it.
ADMIN_PASSWORD_FILE = "admin-password"
