"""Busy time: calendars (files, URLs, Netlify Forms) -> busy intervals in UTC."""
