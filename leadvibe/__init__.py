"""LeadVibe: a self-hosted lead-engagement scoring appliance."""

__version__ = "0.1.0"

# Set in the environment of the worker process the server starts (pipeline.worker_process): there the program's
# entry point runs the worker instead of the command line.
WORKER_CHILD_ENV = "LEADVIBE_WORKER_CHILD"
