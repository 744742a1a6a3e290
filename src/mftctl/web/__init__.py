"""The store in a web page (`mftctl ui`): today Datasette over an SQLite store (datasette.py)."""
