"""Use cases (`do_*`) that the Engine API, the dashboard, tasks and the agent all call."""
