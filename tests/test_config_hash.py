"""The config hash across releases: a key added later changes no stored hash while it sits at its
default, and needs no entry anywhere but its field (config.FIRST_RELEASE_KEYS is frozen)."""

import hashlib
import json

import pytest
from pydantic import Field

from mftctl.config import (
    FIRST_RELEASE_KEYS,
    PRESETS,
    ExperimentConfig,
    ModelConfig,
    TrainingConfig,
    config_hash,
    flatten,
    validate,
)
from mftctl.config_input import load_config


class _ModelWithAKeyAddedLater(ModelConfig):
    activation: str = Field("tanh3", description="A key a later release adds, here only.")


class _TrainingWithAKeyAddedLater(TrainingConfig):
    warm_restarts: int = Field(0, ge=0, description="Another one, in another section.")


class _ExperimentWithKeysAddedLater(ExperimentConfig):
    model: _ModelWithAKeyAddedLater = Field(default_factory=_ModelWithAKeyAddedLater)
    training: _TrainingWithAKeyAddedLater = Field(default_factory=_TrainingWithAKeyAddedLater)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_a_key_added_later_keeps_every_stored_hash(preset):
    today = load_config(preset)
    later = _ExperimentWithKeysAddedLater.model_validate(today.model_dump())
    assert "activation" in later.model_dump()["model"]  # the fixture really has the new key
    assert config_hash(later) == config_hash(today)
    moved = later.model_copy(update={"model": later.model.model_copy(update={"activation": "relu"})})
    assert config_hash(moved) != config_hash(today)  # away from its default, the new key counts


def test_the_first_release_hash_of_a_preset_holds_with_or_without_later_keys():
    quick = load_config("quick")
    assert config_hash(quick) == "241bc1a84c1b760e"  # the quick preset's hash since the first release
    assert config_hash(_ExperimentWithKeysAddedLater.model_validate(quick.model_dump())) == "241bc1a84c1b760e"


def test_a_config_stored_without_todays_later_keys_hashes_as_today():
    """A row written before decoder_kernel, keep_checkpoints, min_depth, sampler ... existed."""
    stored = load_config("quick").model_dump(mode="json")
    for section, key in (("training", "decoder_kernel"), ("training", "keep_checkpoints"), ("stage2", "sampler")):
        del stored[section][key]
    assert config_hash(validate(stored)) == "241bc1a84c1b760e"


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_the_hash_is_the_first_releases_hash_of_its_first_release_keys(preset):
    """What the first release hashed: the canonical JSON of its own keys. Every key added since (kernels,
    retention, the modes-1 thresholds, samplers, activations) drops out at its default, with no list."""
    config = load_config(preset)
    flat = flatten(config.model_dump(mode="json"))
    assert set(FIRST_RELEASE_KEYS) < set(flat)  # today's config has more keys than the first release's
    first: dict = {}
    for key in FIRST_RELEASE_KEYS:
        section, _, leaf = key.rpartition(".")
        (first.setdefault(section, {}) if section else first)[leaf] = flat[key]
    canonical = json.dumps(first, sort_keys=True, separators=(",", ":"))
    assert config_hash(config) == hashlib.sha256(canonical.encode()).hexdigest()[:16]
    changed = load_config(preset, overrides=['training.decoder_kernel="dense"', 'model.activation="relu"'])
    assert config_hash(changed) != config_hash(config)
