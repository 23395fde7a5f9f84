"""Pictures and pages: every recipe draws its figures and a report.html that renders in headless
Chromium; the classifier figures show the test set; `torchlab report` compares runs."""

import json
import re
import warnings

import pytest

import torchlab
from tests.browser import ink, render
from tests.conftest import dev_sentence, overrides_it_has, report_mistakes, sst2_copy
from torchlab import api
from torchlab.cli import main
from torchlab.recipes import load_recipe, recipe_names
from torchlab.report import FIGURES, draw_figures
from torchlab.report.curves import run_series


def quick_overrides(recipe: str) -> list[str]:
    """Two short epochs on a slice of the data, whatever the family; a GAN judges 500 generated samples."""
    small = overrides_it_has(recipe, data__subset=1000, data__eval_subset=500, task__samples=500)
    return ["--logger", "none", "train.epochs=2", *small]


def assert_renders(page, tmp_path, name):
    """The page loads in a real browser with nothing in its console, and draws something."""
    shot = tmp_path / f"{name}.png"
    console = render(page, shot)
    assert console == [], console
    covered, contrast = ink(shot)
    assert covered > 0.01 and contrast > 10, (covered, contrast)


@pytest.mark.slow
def test_the_browser_check_sees_console_errors_and_blank_pages(tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text('<html><body><img src="missing.png"><script>throw new Error("boom")</script></body></html>')
    console = render(broken, tmp_path / "broken.png")
    assert any("boom" in line for line in console), console
    covered, _ = ink(tmp_path / "broken.png")
    assert covered < 0.01  # blank, as it looks


# One recipe of each family whose data is on this machine (CIFAR-10 and image folders share the
# classifier's figures; their data is not here). The test below checks no task is left out.
FAMILIES = ["mnist-mlp", "fashion-lenet5", "sine-lstm", "sst2-lstm", "mnist-vae", "gaussians-wgan-gp", "mnist-dcgan"]


def test_the_families_cover_every_task_of_every_recipe():
    assert {load_recipe(r).task.name for r in recipe_names()} == {load_recipe(r).task.name for r in FAMILIES}


@pytest.mark.slow
@pytest.mark.parametrize("recipe", FAMILIES)
def test_every_recipe_family_draws_its_figures_and_a_report_that_renders(recipe, tmp_path, mnist_root, capsys):
    out = tmp_path / recipe
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["train", recipe, "--out", str(out), *quick_overrides(recipe)]) == 0
    assert not [str(w.message) for w in caught if "figure" in str(w.message)]
    printed = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("epoch ") for line in printed) == 2
    assert all(len(line) <= 80 for line in printed if str(tmp_path) not in line), printed  # paths aside
    # Learning curves and at least one of the family's own pictures (some apply only to some
    # models of the family, e.g. the latent scatter to a 2-d latent).
    task = load_recipe(recipe).task.name
    own = [f for f in FIGURES.values() if f.tasks and task in f.tasks]
    plots = sorted((out / "plots").glob("*.png"))
    assert (out / "plots" / "learning_curves.png") in plots and len(plots) >= 1 + min(len(own), 1)
    if task in ("classify", "binary"):  # every classifier, SST-2's two classes too
        assert out / "plots" / "confusion_matrix.png" in plots
    assert all(p.stat().st_size > 5000 for p in plots)

    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(plots)
    assert not re.search(r'(src|href)="(?!data:)', page)  # self-contained: nothing to fetch
    command = page.split("<h2>Reproduce</h2><pre>")[1].split("</pre>")[0]  # the command that reproduces it
    assert command.startswith(f"torchlab train {recipe}")
    assert all(o in command.split() for o in quick_overrides(recipe) if "=" in o and not o.startswith("log."))
    assert "<h2>Config</h2>" in page and "optim:" in page  # the resolved config
    assert_renders(out / "report.html", tmp_path, recipe)


@pytest.mark.slow
def test_classifier_figures_describe_the_test_set(tmp_path, mnist_root):
    from torchlab.config import save_config
    from torchlab.engine.trainer import Trainer
    from torchlab.report.classify import test_predictions
    from torchlab.report.pages import write_run_report

    config = load_recipe(
        "mnist-mlp", ["data.subset=1000", "data.eval_subset=500", "train.epochs=1", "log.loggers=none"]
    )
    trainer = Trainer(config, tmp_path / "run")
    save_config(config, tmp_path / "run" / "config.yaml")
    summary = trainer.fit()
    run = api.finished_run(trainer)  # what figures see: the test pass's own predictions, no second pass
    predictions = test_predictions(run)
    confusion = predictions.confusion()
    assert confusion.shape == (10, 10) and int(confusion.sum()) == 500
    assert confusion.diag().sum().item() / 500 == pytest.approx(summary["test"]["accuracy"])
    wrong = int((predictions.labels != predictions.predicted).sum())
    assert len(predictions.wrong_images) == min(wrong, 32) and predictions.wrong_images.max() <= 1
    drawn = draw_figures(run, tmp_path / "run" / "plots")
    assert {"confusion-matrix", "misclassified", "learning-curves"} <= set(drawn)
    assert "misclassified-sentences" not in drawn  # images are no token ids
    assert "confusion_matrix.png" in write_run_report(tmp_path / "run").read_text()


@pytest.mark.slow
def test_a_two_class_text_classifier_draws_the_confusion_matrix_of_its_test_set(tmp_path, sst2_root):
    """SST-2's binary task kept no test predictions: its run drew no confusion matrix."""
    from torchlab.config import save_config
    from torchlab.engine.trainer import Trainer
    from torchlab.report.classify import test_predictions

    overrides = ["data.subset=2000", "data.eval_subset=300", "train.epochs=1", "log.loggers=none"]
    config = load_recipe("sst2-lstm", overrides)
    trainer = Trainer(config, tmp_path / "run")
    save_config(config, tmp_path / "run" / "config.yaml")
    summary = trainer.fit()
    run = api.finished_run(trainer)
    confusion = test_predictions(run).confusion()
    assert confusion.shape == (2, 2) and int(confusion.sum()) == 300
    assert confusion.diag().sum().item() / 300 == pytest.approx(summary["test"]["accuracy"])
    drawn = draw_figures(run, tmp_path / "run" / "plots")
    assert "confusion-matrix" in drawn and "misclassified" not in drawn  # a grid of pictures needs images


@pytest.mark.slow
def test_a_text_classifiers_report_lists_its_most_confident_mistakes(tmp_path, sst2_root):
    """Before: an image classifier's report showed its misclassified images, a text classifier's nothing."""
    out = tmp_path / "run"
    assert main(["train", "sst2-lstm", "--out", str(out), *quick_overrides("sst2-lstm")]) == 0
    wrong = round((1 - json.loads((out / "summary.json").read_text())["test"]["accuracy"]) * 500)
    count, rows = report_mistakes(out)
    assert count == f"sst2-lstm: {wrong} of 500 test sentences misclassified; the 8 most confident mistakes:"
    run = torchlab.load(out)
    for shown, true, predicted, _ in rows:
        sentence, label = dev_sentence(shown)
        assert true == label != predicted  # a real test sentence, and a real mistake
        assert ["negative", "positive"][run.predict([sentence])[0]] == predicted
    confidences = [float(row[3].rstrip("%")) for row in rows]
    assert len(rows) == 8 and confidences == sorted(confidences, reverse=True) and confidences[-1] >= 50


WRITTEN = ["A <b>Good</b> film | K-19 rocks!", "Zyzzyva & bad ÉCLAT"]  # case, markup, words never trained on


def test_a_text_report_shows_each_sentence_as_written_in_an_html_table(tmp_path):
    """Before: a sentence was its tokens read back through the vocabulary ("a < b > good < / b > film |
    k - 19 <unk> !"), and report.html showed the Markdown table as text in a <pre> block."""
    train = [f"a {word} film {i}\t{int(word == 'good')}" for i in range(20) for word in ("good", "bad")]
    dev = [f"{sentence}\t{label}" for sentence in WRITTEN for label in (0, 1)]  # one of each pair is a mistake
    root, out = sst2_copy(tmp_path, train, tuple(dev)), tmp_path / "run"
    assert main(["train", "sst2-lstm", "--data-dir", str(root), "--out", str(out), "--logger", "none"]) == 0
    count, rows = report_mistakes(out)
    assert count == "sst2-lstm: 2 of 4 test sentences misclassified; the 2 most confident mistakes:"
    assert sorted(row[0] for row in rows) == sorted(WRITTEN)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<td>A &lt;b&gt;Good&lt;/b&gt; film | K-19 rocks!</td>" in page and "<pre>sst2-lstm:" not in page
    assert "| A <b>Good</b> film \\| K-19 rocks! |" in (out / "plots" / "misclassified_sentences.md").read_text()


def test_a_run_in_a_notebook_leaves_its_plotting_alone(tmp_path, mnist_root):
    """A learner's notebook has its own matplotlib backend and open figures: a run draws its PNGs
    without switching the backend (which would close every open figure)."""
    import matplotlib.pyplot as plt

    before = plt.get_backend()
    plt.switch_backend("svg")
    mine = plt.figure()
    try:
        overrides = ["data.subset=1000", "data.eval_subset=500", "train.epochs=1", "log.loggers=none", "log.quiet=true"]
        api.train(load_recipe("mnist-mlp", overrides), tmp_path / "run")
        assert (tmp_path / "run" / "plots" / "confusion_matrix.png").is_file()
        assert plt.get_backend() == "svg" and plt.fignum_exists(mine.number)
    finally:
        plt.close(mine)
        plt.switch_backend(before)


@pytest.mark.slow
def test_report_command_compares_runs(tmp_path, mnist_root, capsys):
    runs = []
    for lr in ("0.05", "0.2"):
        runs.append(tmp_path / f"lr{lr}")
        args = ["train", "mnist-mlp", "--out", str(runs[-1]), *quick_overrides("mnist-mlp"), f"optim.lr={lr}"]
        assert main(args) == 0
    capsys.readouterr()
    assert main(["report", *map(str, runs), "--out", str(tmp_path / "compare")]) == 0
    page_path = tmp_path / "compare" / "report.html"
    assert capsys.readouterr().out.strip() == str(page_path)
    page = page_path.read_text()
    differing = page.split("Hyper-parameters that differ")[1].split("<h2>")[0]
    assert "optim.lr" in differing and "0.05" in differing and "0.2" in differing
    assert "data.batch_size" not in differing  # shared keys are left out
    assert str(runs[0]) in page and "<th>lr0.05</th>" in page and "test.accuracy" in page
    assert page.count('<a href="../lr') == 2 and "★ best" in page  # each run's report; the best marked
    assert_renders(page_path, tmp_path, "compare")
    own = (runs[0] / "report.html").read_bytes()
    assert main(["report", *map(str, runs), "--out", str(runs[0])]) == 2  # never over a run's own report
    assert main(["report", *map(str, runs), "--out", str(runs[0] / "plots")]) == 2  # nor into a run
    cv = tmp_path / "cv"  # nor over a cross-validation's page
    cv.mkdir()
    (cv / "cv_summary.json").write_text("{}")
    (cv / "report.html").write_text("the folds")
    assert main(["report", *map(str, runs), "--out", str(cv)]) == 2
    assert "files are its own; pick another --out" in capsys.readouterr().err
    assert (runs[0] / "report.html").read_bytes() == own and (cv / "report.html").read_text() == "the folds"
    assert not (runs[0] / "plots" / "report.html").exists()


@pytest.mark.slow
def test_a_diverged_run_still_gets_its_report(tmp_path, mnist_root):
    out = tmp_path / "run"
    assert main(["train", "mnist-mlp", "--out", str(out), *quick_overrides("mnist-mlp"), "optim.lr=1e6"]) == 2
    page = (out / "report.html").read_text()
    assert "diverged" in page and "optim.lr=1000000.0" in page
    assert [p.name for p in (out / "plots").glob("*.png")] == ["learning_curves.png"]


def test_report_of_a_folder_that_is_no_run_is_refused(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "not a torchlab run directory" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_comparison_given_one_path_object_twice_is_refused(tmp_path):
    """Before: api.compare([run, run]) with one Path object passed its check for a run named twice (it
    told the two apart by identity) and compared the run with itself."""
    run = tmp_path / "r1"
    with pytest.raises(torchlab.TorchlabError, match="r1 is named twice: a comparison takes each run once"):
        api.compare([run, run], tmp_path / "compare")
    assert not (tmp_path / "compare").exists()


@pytest.mark.slow
def test_a_recipe_file_that_only_its_overrides_make_valid_still_gets_its_report(tmp_path, mnist_root, capsys):
    """Before: the run trained, then exited 2 without report.html ("train.epochs: expected an integer,
    got 'abc'"), as the report resolved the recipe file again without the overrides; so did
    `torchlab report` of a run whose recipe file was edited after it."""
    recipe, out = tmp_path / "my.yaml", tmp_path / "run"
    recipe.write_text("base: mnist-mlp\ntrain:\n  epochs: abc\n")
    assert main(["train", str(recipe), "train.epochs=1", "data.subset=500", "--logger", "none", "--out", str(out)]) == 0
    assert f"torchlab train {out}/config.yaml" in (out / "report.html").read_text()
    recipe.write_text("base: mnist-mlp\nmodel:\n  hiden: [8]\n")  # edited since
    (out / "report.html").unlink()
    capsys.readouterr()
    assert main(["report", str(out)]) == 0 and (out / "report.html").is_file()


@pytest.mark.slow
def test_text_the_figures_font_cannot_draw_is_one_warning(tmp_path, mnist_root, recwarn):
    """Before: a recipe named in Chinese gave matplotlib's "Glyph 25105 (...) missing from font(s)
    DejaVu Sans." twice per character and figure, with their source lines: 16 lines for 我的 实验."""
    from torchlab.report import glyphs_missing

    glyphs_missing.cache_clear()
    recipe = tmp_path / "我的 实验.yaml"
    recipe.write_text("base: mnist-mlp\n", encoding="utf-8")
    args = ["data.subset=500", "train.epochs=1", "--logger", "none", "--out", str(tmp_path / "运行")]
    assert main(["train", str(recipe), *args]) == 0
    said = [str(w.message) for w in recwarn if "glyph" in str(w.message).lower()]
    assert said == ["the figures' font has no glyphs for some characters of their text: they show as boxes"]


@pytest.mark.slow
def test_learning_curves_place_training_logs_within_epochs(tmp_path, mnist_root):
    out = tmp_path / "run"
    args = ["--logger", "jsonl", "data.subset=1000", "data.batch_size=100", "train.epochs=2", "train.log_every=3"]
    assert main(["train", "mnist-mlp", "--out", str(out), *args]) == 0
    series = run_series(out)
    steps = [3, 6, 9, 12, 15, 18]  # 10 steps an epoch, a record every 3
    assert series["train.loss"][0] == pytest.approx([s / 10 for s in steps])
    assert series["lr"][0] == series["train.loss"][0]
    assert series["val.loss"][0] == [1.0, 2.0] and series["val.accuracy"][0] == [1.0, 2.0]
    assert series["train.loss"][1][-1] < series["train.loss"][1][0]  # it learned
    # A resumed run that repeats step 18 writes it again: the later record wins.
    with (out / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"event": "step", "epoch": 1, "step": 18, "train.loss": 9.0, "lr": 0.1}) + "\n")
    assert run_series(out)["train.loss"][1][-1] == 9.0 and len(run_series(out)["train.loss"][0]) == len(steps)
