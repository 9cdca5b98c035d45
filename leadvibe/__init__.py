"""LeadVibe: a self-hosted lead-engagement scoring appliance."""

__version__ = "0.1.0"
