"""callslot: a static booking page for scheduled phone calls, built from the owner's calendar.

The pipeline, one module per stage:

    settings      content/site.toml  -> Settings
    calendars     ICS files and URLs -> busy intervals (UTC, merged)
    availability  Settings + busy + now -> open slots
    site          slots + Markdown + theme -> public/
    signing       HMAC tokens that tie a booked slot to one the build offered
    handler       the WSGI booking endpoint (store, notify, invite behind it)
"""

__version__ = "0.1.0"
