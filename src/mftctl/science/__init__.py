"""The science: pure torch / numpy / scikit-learn, no database, CLI or terminal output.

Import it from a notebook:

    from mftctl.config import load_config
    from mftctl.science.train import train
    result = train(load_config("quick"))
"""
