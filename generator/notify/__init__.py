"""Notifications: the outbox worker, mails, calendar invitations and webhooks."""
