"""Audiobooks: chapters from EPUB, Markdown or plain text, rendered into one M4B/MP3 or a folder of files."""
