"""The content pipeline of every message in and out (Điều 7, 9.9, 13.3): size and
attachment rules, virus scan (ClamAV's clamd), spam scoring (rspamd), the regulation's
content rules, and the quarantine. See ``pipeline.py``."""
