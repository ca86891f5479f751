"""File monitor: watch a text file and speak each appended line (see ``speaker`` and ``watcher``)."""
