"""Config: recipe <- overrides, type checks, unknown keys with suggestions, YAML round trip."""

import time

import pytest
import torch

import torchlab
from tests.conftest import TINY
from torchlab.cli import main
from torchlab.config import build_config, load_run_config, save_config
from torchlab.core.errors import TorchlabError
from torchlab.models.size import check_device_memory
from torchlab.recipes import load_recipe, recipe_names


def test_every_recipe_resolves_and_has_a_description():
    names = recipe_names()
    assert {"mnist-mlp", "mnist-mlp-scratch"} <= set(names)
    for name in names:
        config = load_recipe(name)
        assert config.recipe == name and config.description
        assert config.imports == [], f"{name}: a built-in recipe needs no user code, got {config.imports}"


def test_yes_no_on_off_are_words_for_a_text_key_and_booleans_for_a_bool_key(tmp_path):
    """YAML 1.1 reads them as booleans; configs read them as YAML 1.2 does, then by the key's type."""
    config = load_recipe("mnist-mlp", ["train.compile=yes", "log.histograms=off", "log.visdom.env=no"])
    assert (config.train.compile, config.log.histograms, config.log.visdom.env) == (True, False, "no")
    (tmp_path / "mine.yaml").write_text("base: mnist-mlp\nlog:\n  visdom:\n    env: on\n  histograms: On\n")
    config = load_recipe(str(tmp_path / "mine.yaml"))
    assert (config.log.visdom.env, config.log.histograms) == ("on", True)


def test_overrides_beat_the_recipe_and_are_typed():
    config = load_recipe("mnist-mlp", ["optim.lr=0.2", "train.epochs=3", "model.hidden=[64, 32]", "optim.momentum=0"])
    assert config.optim.lr == 0.2 and isinstance(config.optim.lr, float)
    assert config.train.epochs == 3
    assert config.model.hidden == [64, 32]
    assert config.optim.momentum == 0.0
    assert load_recipe("mnist-mlp", ["optim.lr=1e-3"]).optim.lr == 0.001  # YAML reads 1e-3 as text


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lr=abc", "optim.lr: expected a number, got 'abc'"),
        ("optim.lrr=0.1", "unknown config key 'optim.lrr' (did you mean 'optim.lr'?)"),
        ("train.batch_size=64", "unknown config key 'train.batch_size' (did you mean 'data.batch_size'?)"),
        ("optim.seed=1", "unknown config key 'optim.seed' (did you mean 'train.seed'?)"),
        ("data.hidden=[8]", "unknown config key 'data.hidden' (did you mean 'model.hidden'?)"),
        ("log.visdom.prot=1", "unknown config key 'log.visdom.prot' (did you mean 'log.visdom.port'?)"),
        ("optimm.lr=0.1", "unknown config section 'optimm' (did you mean 'optim'?)"),
        ("train.epochs=2.5", "train.epochs: expected an integer"),
        ("train.amp=bf61", "train.amp: 'bf61' is not one of ['none', 'auto', 'bf16', 'fp16'] (did you mean 'bf16'?)"),
        ("train.amp=off", "train.amp: 'off' is not one of ['none', 'auto', 'bf16', 'fp16']"),  # not False
        ("log.visdom.server=http://[bad", "log.visdom.server: expected http://HOST or https://HOST"),  # a traceback
        ("log.visdom.server=localhost:8097", "log.visdom.server: expected http://HOST or https://HOST (the port"),
        ("log.visdom.timeout=0", "log.visdom.timeout: expected more than 0, got 0"),  # no request could wait
        ("train.device=no", "train.device: expected auto, cpu, cuda, cuda:N or mps, got 'no'"),
        ("model.name=mlpp", "unknown model 'mlpp' (did you mean 'mlp'?)"),
        ("train.compile=maybe", "train.compile: expected true or false"),
        ("optim.lr", "must look like section.key=value"),
        # these four trained: with the default data root, and with no logger or with tensorboard
        ("data.root=", "override 'data.root=' has no value; data.root takes a string or null: data.root=null"),
        ("data.root=' '", "data.root is empty: name a file or folder, or leave it out for its default"),
        ("log.loggers=''", "log.loggers: expected a list of strings, got ''"),  # no logger
        ("log.loggers=[none,tensorboard]", "log.loggers: 'none' turns every logger off, and tensorboard turns one on"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(TorchlabError) as err:
        load_recipe("mnist-mlp", [override])
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("recipe", "override", "message"),
    [
        ("mnist-mlp", "epochs=3", "unknown config section 'epochs' (did you mean 'train.epochs'?)"),
        ("mnist-mlp", "lr=0.1", "unknown config section 'lr' (did you mean 'optim.lr'?)"),
        ("mnist-vae", "beta=2", "unknown config section 'beta' (did you mean 'task.beta'?)"),
        ("mnist-mlp", "hflip=true", "unknown config section 'hflip' (did you mean 'data.augment.hflip'?)"),
        ("mnist-mlp", "port=8097", "unknown config section 'port' (did you mean 'log.visdom.port'?)"),
        ("mnist-mlp", "modle.hidden=[8]", "unknown config section 'modle' (did you mean 'model'?)"),
        ("mnist-mlp", "nam=x", "unknown config section 'nam'; sections: "),  # name: of which section?
        ("mnist-mlp", "task.beta=2", "unknown config key 'task.beta' (a key of task reconstruct, not of classify)"),
        ("mnist-mlp", "optim.betas=[0.9, 0.9]", "'optim.betas' (a key of optim adam, adamw, not of sgd)"),
        (
            "sine-rnn",
            "data.augment.hflip=0.5",
            "'data.augment' (a key of data cifar10, fashion-mnist, folder, ..., not",
        ),
    ],
)
def test_a_key_without_its_section_or_of_another_component_names_where_it_belongs(recipe, override, message):
    """Before: `epochs=3` said only "unknown config section 'epochs'", and `task.beta=2` on a classifier
    listed the classifier's keys, without a word that it is the reconstruct task's. A nested setting
    without its sections was pointed elsewhere (`hflip`: task.tta_flip, `port`: imports), where
    torchlab.fit's keyword named it (data__augment__hflip=); `nam`, nearest to the `name` of every section,
    was pointed at train.amp."""
    with pytest.raises(TorchlabError) as err:
        load_recipe(recipe, [override])
    assert message in str(err.value)


ADVISED = [  # (recipe, override, what its key takes, the override advised)
    (
        "mnist-mlp",
        "model.hidden=",
        "model.hidden takes a list of integers: model.hidden=[] sets an empty list",
        "model.hidden=[]",
    ),
    ("sine-lstmcell", "model.hidden_sizes=", "model.hidden_sizes takes a list of integers", None),  # 1 layer or more
    (
        "mnist-mlp",
        "train.monitor=",
        "train.monitor takes a string or null: train.monitor=null sets null",
        "train.monitor=null",
    ),
    ("mnist-mlp", "train.mode=", "train.mode takes 'min' | 'max'", None),
]


@pytest.mark.parametrize(("recipe", "override", "takes", "advised"), ADVISED)
def test_an_override_without_a_value_advises_null_or_an_empty_list_only_where_taken(recipe, override, takes, advised):
    """Before: every key was advised `KEY=null`, which most refuse. The advice given now is taken."""
    with pytest.raises(TorchlabError) as err:
        load_recipe(recipe, [override])
    assert str(err.value) == f"override '{override}' has no value; {takes}"
    assert advised is None or load_recipe(recipe, [advised])


def test_unknown_recipe_suggests_the_close_one():
    with pytest.raises(TorchlabError, match="did you mean 'mnist-mlp'"):
        load_recipe("mnist-mpl")


def test_an_unknown_recipe_names_the_run_or_file_it_likely_meant(tmp_path, monkeypatch):
    """Before: `train RUN_DIR` and `train my` (for my.yaml) said only "unknown recipe", and `train
    mnist-mlp.yaml` "config file not found"."""
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    save_config(load_recipe("mnist-mlp"), run / "config.yaml")
    (tmp_path / "my.yaml").write_text("base: mnist-mlp\n")
    cases = {
        str(run): f"({run} is a run: name its config, {run}/config.yaml, or continue it: torchlab resume {run})",
        "my": "unknown recipe 'my' (did you mean 'my.yaml'?)",
        "mnist-mlp.yaml": "config file not found: mnist-mlp.yaml (did you mean the recipe 'mnist-mlp'?)",
    }
    for recipe, message in cases.items():
        with pytest.raises(TorchlabError) as err:
            load_recipe(recipe)
        assert message in str(err.value)
    assert load_recipe("my.yaml").recipe == "my" and load_recipe(str(run / "config.yaml")).recipe == "mnist-mlp"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("train:\n\tepochs: 1\n", "found character '\\t' that cannot start any token, line 3, column 1"),
        (
            "train:\n  epochs: [1\noptim:\n  lr: 0.1\n",
            "got ':', line 4, column 6 (while parsing a flow sequence at line 3, column 11)",
        ),
        (
            "train\n  epochs: 1\n",
            "could not find expected ':', line 3, column 9 (while scanning a simple key at line 2, column 1)",
        ),
    ],
)
def test_a_recipe_file_that_is_not_yaml_says_what_and_where(text, says, tmp_path):
    """Before: only what the parser was doing ("while scanning for the next token"), not what was
    wrong (a tab) nor on which line."""
    recipe = tmp_path / "my.yaml"
    recipe.write_text(f"base: mnist-mlp\n{text}")
    with pytest.raises(TorchlabError) as err:
        load_recipe(str(recipe))
    assert str(err.value).startswith(f"{recipe} is not valid YAML: ") and says in str(err.value)


def test_model_section_keys_depend_on_the_model_name():
    # Naming another model starts from its defaults; `hidden` belongs to mlp, not to the scratch model.
    assert load_recipe("mnist-mlp", ["model.name=mlp-scratch"]).model == load_recipe("mnist-mlp-scratch").model
    with pytest.raises(TorchlabError, match="unknown config key 'model.hidden'"):
        load_recipe("mnist-mlp", ["model.name=mlp-scratch", "model.hidden=[10]"])


def test_resolved_config_round_trips_through_yaml(tmp_path):
    config = load_recipe("mnist-mlp", ["optim.lr=0.3", "data.val_split=0.2"])
    save_config(config, tmp_path / "config.yaml")
    again = load_run_config(tmp_path)
    assert again == config
    assert again.data.val_split == 0.2


def test_val_split_takes_a_count_or_a_fraction():
    assert build_config({"data": {"val_split": 5000}}).data.val_split == 5000
    assert build_config({"data": {"val_split": 0.1}}).data.val_split == 0.1


@pytest.mark.parametrize(
    ("recipe", "override", "message"),
    [
        ("sine-lstm", "model.num_layers=99999999", "model.num_layers: expected a value in [1, 100], got 99999999"),
        ("fashion-resnet", "model.blocks=[99999999,2,2]", "model.blocks[0]: expected a value in [1, 1000], got "
         "99999999"),
        ("mnist-mlp", "model.hidden=[1000000000]", "model: MLP of 795,000,000,010 parameters needs 2,961.6 GiB for its "
         "weights alone, more than the"),
        ("mnist-mlp", "model.hidden=[1000000000]", "(the largest size asked: model.hidden=[1000000000]); lower it"),
        ("sine-lstm", "model.hidden_size=1000000000", "model: too large for any memory (Storage size calculation "
         "overflowed with sizes=[4000000000, 1000000000]) (the largest size asked: model.hidden_size=1000000000)"),
    ],
)  # fmt: skip
def test_a_model_too_large_for_this_machine_is_refused_in_seconds_naming_the_key(
    recipe, override, message, tmp_path, capsys, mnist_root
):
    """Before: minutes of building layers (1.4 ms each for an LSTM's), or of initialising weights, then
    a kill by the kernel's out-of-memory killer or a RuntimeError traceback (exit 1)."""
    started = time.perf_counter()
    assert main(["train", recipe, "--out", str(tmp_path / "run"), "--logger", "none", override]) == 2
    assert message in capsys.readouterr().err
    assert time.perf_counter() - started < 60  # a loose bound: the build took minutes or hours
    assert not (tmp_path / "run").exists()


def test_a_training_whose_gradients_and_adam_states_exceed_free_memory_is_refused_before_it_starts(
    tmp_path, capsys, monkeypatch, mnist_root
):
    """The weights fit, but not with the gradients and Adam's two moments: before, the kernel killed the
    run after minutes (model.hidden=[3000000,200]: 11.8 GB of weights, 47 GB to train, in 21 GB free)."""
    monkeypatch.setattr("torchlab.models.size.available_memory", lambda: 2 * 2**20)  # 0.8 MB of weights fit
    assert main(["train", "mnist-mlp", "--out", str(tmp_path / "run"), "--logger", "none", "optim.name=adam"]) == 2
    assert (
        "training needs 2.3 MiB for the gradients and optimiser states of 199,210 weights, more than the "
        "2.0 MiB of memory free on cpu" in capsys.readouterr().err
    )
    assert not (tmp_path / "run").exists()


def test_a_resume_whose_training_no_longer_fits_in_memory_is_refused_as_train_refuses_it(
    tmp_path, capsys, monkeypatch, mnist_root
):
    """Before: resume ran none of train's checks but the shards': it trained on, into the memory left."""
    run = tmp_path / "run"
    assert main(["train", "mnist-mlp", "--out", str(run), *TINY, "optim.name=adam"]) == 0
    last = (run / "checkpoints" / "last.pt").read_bytes()
    monkeypatch.setattr("torchlab.models.size.available_memory", lambda: 2 * 2**20)  # less free than at train
    assert main(["resume", str(run), "--epochs", "2"]) == 2
    assert "training needs 2.3 MiB for the gradients and optimiser states" in capsys.readouterr().err
    with pytest.raises(TorchlabError, match="training needs 2.3 MiB"):
        torchlab.resume(run, epochs=2)
    assert (run / "checkpoints" / "last.pt").read_bytes() == last


def test_weights_that_fit_the_host_but_not_the_accelerator_are_refused_before_they_move_there(monkeypatch):
    """Before: only the host's memory was measured; moving the weights ran the accelerator out of memory,
    in a message that named no model size."""
    monkeypatch.setattr("torch.cuda.mem_get_info", lambda device: (2**20, 2**30))
    with pytest.raises(TorchlabError) as refused:
        check_device_memory(torch.nn.Linear(1000, 1000), torch.device("cuda:0"))
    assert str(refused.value) == (
        "model: Linear of 1,001,000 parameters needs 3.8 MiB for its weights alone, more than the 1.0 MiB of "
        "memory free on cuda:0; lower its size"
    )
    check_device_memory(torch.nn.Linear(100, 100), torch.device("cuda:0"))  # 39 KiB fit


def many(n: int, value: int = 8) -> str:
    return "[" + ",".join([str(value)] * n) + "]"


@pytest.mark.parametrize(
    ("recipe", "overrides", "message"),
    [
        ("mnist-mlp", [f"model.hidden={many(101)}"], "model.hidden: expected 0 to 100 items, got 101"),
        ("mnist-ae", [f"model.hidden={many(101)}"], "model.hidden: expected 0 to 100 items, got 101"),
        ("mnist-vae", [f"model.hidden={many(101)}"], "model.hidden: expected 0 to 100 items, got 101"),
        ("gaussians-gan", [f"model.hidden={many(101)}"], "model.hidden: expected 0 to 100 items, got 101"),
        ("mnist-cnn", [f"model.widths={many(101)}"], "model.widths: expected 0 to 100 items, got 101"),
        ("sine-lstmcell", [f"model.hidden_sizes={many(101)}"], "model.hidden_sizes: expected 1 to 100 items, got 101"),
        ("sine-lstmcell", ["model.hidden_sizes=[]"], "model.hidden_sizes: expected 1 to 100 items, got 0"),
        ("fashion-resnet", [f"model.widths={many(101)}", f"model.blocks={many(101, 1)}"],
         "model.widths: expected 1 to 100 items, got 101"),
        ("fashion-resnet", ["model.widths=[8,8]", "model.blocks=[1000,1000]"],
         "model.blocks: expected 1000 or fewer in all, got 2000"),
        ("fashion-densenet", [f"model.blocks={many(101, 1)}"], "model.blocks: expected 1 to 100 items, got 101"),
        ("course-cifar10-resnet18", [f"model.widths={many(101)}", f"model.strides={many(101, 1)}"],
         "model.widths: expected 2 to 100 items, got 101"),
        ("course-cifar10-resnet18", ["model.widths=[8]", "model.strides=[1]"],
         "model.widths: expected 2 to 100 items, got 1"),
        ("mnist-cnn", ["model.widths=[16,0]"], "model.widths[1]: expected 1 or more, got 0"),
        ("mnist-vae", ["model.latent=-2"], "model.latent: expected 1 or more, got -2"),
        ("mnist-dcgan", ["model.critic_width=0"], "model.critic_width: expected 1 or more, got 0"),
        ("mnist-cnn", ["model.first_kernel=0"], "model.first_kernel: expected 1 or more, got 0"),
        ("fashion-densenet", ["model.growth=0"], "model.growth: expected 1 or more, got 0"),
    ],
)  # fmt: skip
def test_every_model_setting_that_sizes_the_model_has_a_range_and_a_one_line_refusal(recipe, overrides, message):
    """Before: lists of layers had no length limit: model.hidden of 100,000 sizes built for 73.5 s (10,000:
    3.9 s), and a ResNet's or DenseNet's 1000 blocks a stage over any number of stages as long."""
    with pytest.raises(TorchlabError) as refused:
        load_recipe(recipe, overrides)
    assert str(refused.value) == message
