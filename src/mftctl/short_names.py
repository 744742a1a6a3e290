"""Short names for config keys, used wherever a key is a column header or a label (`list --columns`,
`compare`, sweep cell labels): `lr` for training.learning_rate, `enc_init` for
model.encoder_initialization_scale. Any short name can also be typed wherever a key is asked for."""

from __future__ import annotations

SHORT_NAMES: dict[str, str] = {
    "seed": "seed",
    "device": "device",
    "data.d": "d",
    "data.sparsity": "k",
    "data.noise_variance": "noise",
    "data.n_train": "n_train",
    "data.n_test": "n_test",
    "data.amplitude_min": "amp_min",
    "data.amplitude_max": "amp_max",
    "model.hidden_size": "h",
    "model.encoder_initialization_scale": "enc_init",
    "model.decoder_initialization_scale": "dec_init",
    "loss.lambda_on": "lambda_on",
    "loss.lambda_off": "lambda_off",
    "loss.loss_type": "loss",
    "training.optimizer": "opt",
    "training.learning_rate": "lr",
    "training.batch_size": "batch",
    "training.epochs": "epochs",
    "training.encoder_regularization": "enc_l2",
    "training.decoder_regularization": "dec_l2",
    "training.lr_schedule": "schedule",
    "training.warmup_fraction": "warmup",
    "training.temperature": "temp",
    "training.decoder_kernel": "kernel",
    "training.matmul_precision": "precision",
}
LONG_NAMES = {short: key for key, short in SHORT_NAMES.items()}

# The keys that say what a run is at a glance, in this order: `presets` and the figures' titles show
# them all, `list`'s table the first four (d×h, opt, lr), so a key added here shows wherever it fits.
HEADLINE_KEYS = ("data.d", "model.hidden_size", "training.optimizer", "training.learning_rate", "training.batch_size")


def short(key: str) -> str:
    """The short name of a dotted key; the key's last part where it has none."""
    return SHORT_NAMES.get(key, key.rsplit(".", 1)[-1])


def label(values: dict, *, keys: list[str] | None = None) -> str:
    """`lr=0.02 batch=5000`: values by their short names (all of them, or just `keys`)."""
    shown = keys if keys is not None else list(values)
    return " ".join(f"{short(k)}={number(values[k])}" for k in shown if k in values) or "base"


def number(value: object) -> object:
    """A float to four significant digits (a search's sampled 0.08839874534247044 reads 0.0884); a grid's
    typed values are shorter than that already and unchanged."""
    return f"{value:.4g}" if isinstance(value, float) else value
