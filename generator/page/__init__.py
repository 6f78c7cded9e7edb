"""The published site: open slots + Markdown + theme -> public/."""
