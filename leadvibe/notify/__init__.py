"""Notification transports: webhooks, SMTP email, Slack."""
