"""The lab in a browser (`mftctl ui`): Dash pages over the store, read-only (app.py), and the raw
tables through Datasette (datasette.py, `mftctl ui --datasette`)."""
