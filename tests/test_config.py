import json

import pytest

from mftctl.config import PRESETS, config_from_json, config_hash, diff_from_preset, preset_dict
from mftctl.config_input import apply_overrides, load_config, parse_override
from mftctl.errors import ConfigError


def test_reference_preset_matches_science_md():
    c = load_config("reference_3blob")
    assert (c.data.d, c.data.sparsity, c.data.noise_variance) == (1024, 2, 0.005)
    assert (c.data.amplitude_min, c.data.amplitude_max, c.data.n_train, c.data.n_test) == (1.0, 1.0, 300_000, 5_000)
    assert (c.model.hidden_size, c.model.encoder_initialization_scale, c.model.decoder_initialization_scale) == (
        512,
        0.03,
        0.03,
    )
    t = c.training
    assert (t.optimizer, t.learning_rate, t.batch_size, t.epochs) == ("adam", 0.02, 10_000, 20)
    assert (t.encoder_regularization, t.decoder_regularization, t.lr_schedule) == (0.0, 0.03, "constant")
    assert (t.enable_diagnostics, t.diagnostic_sample_size, t.checkpoint_every) == (True, 5000, 1)
    assert (c.loss.loss_type, c.loss.lambda_on, c.loss.lambda_off, c.seed) == ("scaled_mse", 16.0, 1.0, 42)
    assert c.stage2.num_clusters == 3


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_validates(name):
    assert load_config(name).model_dump() == preset_dict(name)


def test_overrides_are_parsed_to_the_field_type():
    c = load_config(
        "quick",
        overrides=[
            "training.learning_rate=0.5",
            "training.epochs=3",
            "training.enable_diagnostics=false",
            "loss.loss_type=mse",
            "device=cpu",
        ],
    )
    assert c.training.learning_rate == 0.5 and c.training.epochs == 3
    assert c.training.enable_diagnostics is False and c.loss.loss_type == "mse" and c.device == "cpu"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.lerning_rate=0.1", "unknown key 'training.lerning_rate' (did you mean training.learning_rate?)"),
        ("training.learning_rate=-1", "training.learning_rate: Input should be greater than 0 (got -1)"),
        ("training.learning_rate=fast", "training.learning_rate: Input should be a valid number"),
        ("training.epochs=2.5", "training.epochs: Input should be a valid integer"),
        ("data.sparsity=40", "data.sparsity (40) must be at most data.d (32)"),
        ("loss.loss_type=l1", "loss.loss_type: Input should be 'scaled_mse' or 'mse'"),
        ("model.hidden_size=0", "model.hidden_size: Input should be greater than or equal to 1"),
        ("optimizer.lr=1", "unknown section 'optimizer'"),
        ("device=tpu", "device must be auto, cpu, cuda or cuda:N"),
    ],
)
def test_refusals_name_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        load_config("quick", overrides=["data.d=32", override])
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_preset_suggests_the_close_one():
    with pytest.raises(ConfigError, match=r"unknown preset 'quik' \(did you mean quick\?\); choose one of"):
        load_config("quik")


def test_set_without_equals_is_refused():
    with pytest.raises(ConfigError, match="--set expects KEY=VALUE"):
        parse_override("training.epochs")


def test_config_file_toml_and_json(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text("[training]\nlearning_rate = 0.001\n[model]\nhidden_size = 8\n")
    c = load_config("quick", toml, ["training.epochs=1"])
    assert (c.training.learning_rate, c.model.hidden_size, c.training.epochs) == (0.001, 8, 1)
    js = tmp_path / "c.json"
    js.write_text(json.dumps({"data": {"d": 16}}))
    assert load_config("quick", js).data.d == 16


def test_malformed_toml_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[training\nlr = ")
    with pytest.raises(ConfigError, match="is not valid toml"):
        load_config("quick", bad)


def test_hash_is_stable_and_sensitive():
    a, b = load_config("quick"), load_config("quick")
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(load_config("quick", overrides=["seed=1"]))
    # key order in the stored JSON does not matter
    reordered = json.dumps(dict(reversed(list(a.model_dump().items()))))
    assert config_hash(config_from_json(reordered)) == config_hash(a)


def test_old_records_get_defaults_for_new_keys():
    raw = load_config("quick").model_dump()
    del raw["training"]["warmup_fraction"], raw["stage2"]
    c = config_from_json(json.dumps(raw))
    assert c.training.warmup_fraction == 0.05 and c.stage2.num_clusters == 3


def test_diff_from_preset_lists_only_changes():
    c = load_config("quick", overrides=["training.epochs=9"])
    assert diff_from_preset(c, "quick") == {"training.epochs": (5, 9)}


def test_apply_overrides_does_not_mutate_input():
    raw = preset_dict("quick")
    apply_overrides(raw, ["training.epochs=9"])
    assert raw["training"]["epochs"] == 5


def test_the_cli_offers_exactly_the_values_the_config_accepts():
    """The stage2 command's choices are plain enums (so `--help` needs no pydantic): they must match."""
    from typing import get_args

    from mftctl.cli import stage2
    from mftctl.config import Stage2Config

    for field, enum in (
        ("mixture", stage2.MixtureKind),
        ("control", stage2.Control),
        ("decoder_init", stage2.DecoderInit),
        ("sampler", stage2.Sampler),
    ):
        assert [e.value for e in enum] == list(get_args(Stage2Config.model_fields[field].annotation)), field
