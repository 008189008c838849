"""Optimizers a scenario writes as formulas (SCENARIO-FORMAT version 3, ``[optimizers.NAME]``), end to end:
refused in one line when they cannot run, checked, run, exported in every format (the py script and the notebook,
run, give the JSON's numbers), printed in the Update section and the app, forked, saved; and a built-in entry
registered in a fixture working everywhere with no other edit.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from _cli import run_cli, write
from test_optimizers import ADAGRAD_RULE, BLOG_ADAGRAD

from bpdebug.core import optimizers as opt
from bpdebug.core.engine import Trace, train
from bpdebug.core.optimizers import Hyperparameter, Optimizer
from bpdebug.core.scenario import ScenarioError, loads
from bpdebug.core.scenario_writer import to_toml
from bpdebug.core.whatif import fork

RULE = 'rule = ["r = r + g**2", "p = p - learning_rate*g/(sqrt(r) + epsilon)"]'


# ------------------------------------------------------------------------------------------- refused

@pytest.mark.parametrize(("edit", "key", "says"), [
    (("sqrt(r)", "cbrt(r)"), "optimizers.adagrad.rule[2]", "call of 'cbrt' is not allowed"),
    (("sqrt(r) + epsilon", "sqrt(r) + eps"), "optimizers.adagrad.rule[2]", "unknown name 'eps'"),
    (('"p = p - learning_rate', '"q = p - learning_rate'), "optimizers.adagrad.rule", "never assigns p"),
    ((RULE, 'rule = ["p = p - learning_rate*g/(sqrt(u) + epsilon)", "u = r + g**2"]'), "optimizers.adagrad.rule[1]",
     "reads u before it is assigned"),
    (("{ epsilon = 1e-10 }", "{ epsilon = 1e-10, g = 2.0 }"), "optimizers.adagrad.hyper", "'g' is a name every rule"),
    (("{ epsilon = 1e-10 }", "{ learning_rate = 2.0 }"), "optimizers.adagrad.hyper", "'learning_rate' is a name"),
    (("{ epsilon = 1e-10 }", "{ epochs = 2.0 }"), "optimizers.adagrad.hyper", "a [training] key"),
    (("sqrt(r) + epsilon", "sqrt(r - g**2)"), "optimizers.adagrad.rule[2]", "not finite where training starts"),
    ((RULE, 'rule = ["p = p - learning_rate*g/sqrt(r)", "r = r + g**2"]'), "optimizers.adagrad.rule[1]",
     "not finite where training starts"),  # the state read before its first update: 0
    (("[optimizers.adagrad]", "[optimizers.adam]"), "optimizers.adam", "'adam' is built in"),
    (('"r = r + g**2",', '"g = 2*g", "r = r + g**2",'), "optimizers.adagrad.rule[1]", "assigns g"),
    (('"r = r + g**2",', '"r = r + g**2", "r = 2*r",'), "optimizers.adagrad.rule[2]", "a second time"),
    (('"r = r + g**2",', '"(r) = r + g**2",'), "optimizers.adagrad.rule[1]", "assigns '(r)', expected a name"),
    (('"r = r + g**2",', '"r = __import__(1)",'), "optimizers.adagrad.rule[1]", "'__import__' is not allowed"),
    (('state = ["r"]', 'state = ["r", "w1"]'), "optimizers.adagrad.state", "'w1' is a parameter's name"),
    (('optimizer = "adagrad"', 'optimizer = "adagrad"\nbeta1 = 0.9'), "training.beta1",
     'not used by optimizer = "adagrad", expected it only with optimizer = "adam"'),
    (('optimizer = "adagrad"', 'optimizer = "adagard"'), "training.optimizer", "unknown optimizer \"adagard\""),
])
def test_a_formula_optimizer_that_cannot_run_is_refused_in_one_line(tmp_path, capsys, edit, key, says):
    text = BLOG_ADAGRAD.replace(*edit)
    assert text != BLOG_ADAGRAD
    with pytest.raises(ScenarioError) as caught:
        loads(text, "adagrad.toml")
    error = caught.value
    assert error.key == key and says in error.message, str(error)
    assert error.line is not None and "\n" not in str(error)
    code, out, err = run_cli(capsys, "check", write(tmp_path, text, "adagrad.toml"))
    assert code == 2 and out == "" and err.strip() == str(error).replace("adagrad.toml", str(tmp_path / "adagrad.toml"))


def test_a_value_set_under_training_that_makes_the_rule_undefined_names_its_key():
    text = BLOG_ADAGRAD.replace("r = r + g**2", "r = 0*r").replace('optimizer = "adagrad"',
                                                                  'optimizer = "adagrad"\nepsilon = 0.0')
    loads(text.replace("epsilon = 0.0", "epsilon = 0.001"))  # its default, and a positive value, are fine
    with pytest.raises(ScenarioError, match=r"training\.epsilon: with these values, .* not finite"):
        loads(text)


def test_the_chosen_optimizers_keys_are_read_under_training_with_its_own_defaults():
    s = loads(BLOG_ADAGRAD)
    assert s.plan.hyper.keys == ("learning_rate", "epsilon", "weight_decay") and s.plan.hyper.epsilon == 1e-10
    s = loads(BLOG_ADAGRAD.replace('optimizer = "adagrad"', 'optimizer = "adagrad"\nepsilon = 0.001'))
    assert s.plan.hyper.epsilon == 0.001
    adam = loads(BLOG_ADAGRAD.replace('optimizer = "adagrad"', 'optimizer = "adam"'))
    assert adam.plan.hyper.epsilon == 1e-8  # Adam's own default, not the formula's


# ------------------------------------------------------------------------------- check, run, export

def test_check_run_and_every_export_carry_the_formula_optimizer(tmp_path, capsys):
    path = write(tmp_path, BLOG_ADAGRAD)
    code, out, _ = run_cli(capsys, "check", path)
    assert code == 0 and "optimizer     adagrad ([optimizers.adagrad]): epsilon 1e-10" in out
    code, out, _ = run_cli(capsys, "run", path, "--json")
    assert code == 0
    code, out, _ = run_cli(capsys, "export", path, "--format", "json")
    doc = json.loads(out)
    assert doc["training"]["optimizer"] == "adagrad" and doc["training"]["epsilon"] == 1e-10
    final = train(loads(BLOG_ADAGRAD), 6)
    assert doc["final"]["loss"] is not None and len(doc["epochs"]) == 6
    after = doc["epochs"][-1]["params_after"]
    s = loads(BLOG_ADAGRAD)
    assert all(after[p.short] == float(final.weights[p.layer - 1][p.row, p.col]) for p in s.params)
    assert "r" in {k.split(".")[0] for k in doc["epochs"][0]["steps"][0].get("state_after", {"r.w1": 0})}
    # the Update section prints the rule in symbols and with this pass's numbers
    _, md, _ = run_cli(capsys, "export", path, "--format", "md", "--weight", "w5")
    assert r"r \leftarrow r + g^{2}" in md and r"\frac{\eta \cdot g}{\sqrt{r} + \epsilon}" in md
    _, txt, _ = run_cli(capsys, "export", path, "--format", "txt", "--weight", "w5")
    assert "r ← r + g²" in txt and "p ← p − η·g/(sqrt(r) + ε)" in txt
    assert "w5 ← w5 − η·g/(sqrt(r) + ε) = " in txt
    _, tex, _ = run_cli(capsys, "export", path, "--format", "tex", "--weight", "w5")
    assert r"r \leftarrow r + g^{2}" in tex


def test_the_exported_script_pastes_the_engines_code_and_reproduces_the_json(tmp_path, capsys):
    path = write(tmp_path, BLOG_ADAGRAD)
    _, out, _ = run_cli(capsys, "export", path, "--format", "json")
    doc = json.loads(out)
    _, script, _ = run_cli(capsys, "export", path, "--format", "py")
    assert loads(BLOG_ADAGRAD).plan.optimizer.source in script  # the very code the engine runs
    (tmp_path / "run.py").write_text(script)
    ran = subprocess.run([sys.executable, str(tmp_path / "run.py")], capture_output=True, text=True, check=True)
    lines = ran.stdout.splitlines()
    losses = [float(line.split()[-1]) for line in lines if line.startswith("epoch ")]
    assert losses == [e["loss"] for e in doc["epochs"]]  # bit for bit: repr of the same doubles
    assert float(next(line for line in lines if line.startswith("final loss")).split()[-1]) == doc["final"]["loss"]
    params = dict(line.split() for line in lines if not line.startswith(("epoch", "final")))
    assert {k: float(v) for k, v in params.items()} == doc["epochs"][-1]["params_after"]


# a hyperparameter called like a global the notebook binds (delta: the deltas of a pass) is renamed there
CLASHING = (BLOG_ADAGRAD.replace("{ epsilon = 1e-10 }", "{ epsilon = 1e-10, delta = 0.5 }")
            .replace("learning_rate*g/(", "learning_rate*delta*g/("))


@pytest.mark.parametrize("text", [BLOG_ADAGRAD, CLASHING], ids=["adagrad", "a-hyperparameter-named-delta"])
def test_the_notebook_writes_the_rule_out_and_reproduces_the_json(tmp_path, capsys, text):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = write(tmp_path, text.replace("epochs = 6", "epochs = 3"))
    _, out, _ = run_cli(capsys, "export", path, "--format", "json")
    doc = json.loads(out)
    _, notebook, _ = run_cli(capsys, "export", path, "--format", "ipynb", "--weight", "w5")
    nb = nbformat.reads(notebook, as_version=4)
    nbformat.validate(nb)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "def adagrad_rule(p, g, r, t):" in code and "r = g**2 + r" not in code and "r = r + g**2" in code
    assert ("delta_ = 0.5  # adagrad's delta" in code) == (text is CLASHING)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    result = json.loads("".join(o.get("text", "") for o in last.outputs if o.output_type == "stream"))
    assert result["losses"] == [e["loss"] for e in doc["epochs"]]
    assert result["params"] == doc["epochs"][-1]["params_after"]


# ----------------------------------------------------------------------------------- fork and save

def test_a_fork_continues_the_formula_optimizers_state_and_a_saved_scenario_reads_back(tmp_path):
    s = loads(BLOG_ADAGRAD)
    original = Trace(s, 8)
    forked = fork(s, original, [], 4)
    assert forked.plan.resume is not None and forked.plan.optimizer == s.plan.optimizer
    whole, continued = train(s, 6), train(forked, 3)
    assert whole.losses[3:].tobytes() == continued.losses.tobytes()
    assert all(a.tobytes() == b.tobytes() for a, b in zip(whole.weights, continued.weights, strict=True))
    assert all(a.tobytes() == b.tobytes() for (a,), (b,) in zip(whole.state, continued.state, strict=True))
    text = to_toml(s)
    assert "[optimizers.adagrad]" in text and 'rule = ["r = r + g**2", ' in text
    back = loads(text)
    assert back.plan.optimizer == s.plan.optimizer and back.plan.hyper == s.plan.hyper
    assert train(back, 6).losses.tobytes() == whole.losses.tobytes()
    saved = to_toml(fork(s, original, [], 4))
    assert saved.startswith("# Not the fork's run:") and "adagrad's r starts again at 0" in saved.replace("\n# ", " ")


# --------------------------------------------------------------------------------------------- the app

async def test_the_app_opens_a_formula_optimizer_and_its_update_step_shows_the_rule(tmp_path):
    from test_app import settle, text

    from bpdebug.tui.app import make_app
    from bpdebug.tui.widgets.derivation_panel import DerivationPanel
    from bpdebug.tui.widgets.step_panel import StepPanel

    app = make_app(write(tmp_path, BLOG_ADAGRAD))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        while app.session.step.kind != "update":
            await pilot.press("n")
        await settle(pilot)
        assert "adagrad update" in app.screen.query_one(StepPanel).border_title
        narration = app.screen.query_one(StepPanel).narration
        assert narration is not None and "r ← r + g²" in "".join(span.text for span in narration.lines[0])
        chain = text(app.screen.query_one(DerivationPanel))
        assert "update 1 of" in chain and "([optimizers.adagrad])" in chain and "r ← r + g² = 0 + " in chain


# ------------------------------------------------------------------- a built-in entry is one edit

def adagrad_step(p, g, state, t, h):
    (r,) = state
    r = r + g * g
    return p - h.learning_rate * g / (np.sqrt(r) + h.epsilon), (r,), ()


@pytest.fixture
def builtin_adagrad(monkeypatch):
    """torch.optim.Adagrad registered as a built-in entry, and nothing else edited."""
    entry = Optimizer("adagrad", "Adagrad", r"\text{Adagrad}", "torch.optim.Adagrad",
                      (Hyperparameter("epsilon", 1e-10, 0.0, None, True, False, "added to the root for stability"),),
                      ("r",), ADAGRAD_RULE, adagrad_step)
    monkeypatch.setitem(opt.OPTIMIZERS, "adagrad", entry)
    return entry


def test_registering_a_built_in_adagrad_needs_no_other_edit(builtin_adagrad, tmp_path, capsys):
    text = BLOG_ADAGRAD.replace('[optimizers.adagrad]\nhyper = { epsilon = 1e-10 }\nstate = ["r"]\n' + RULE + "\n", "")
    assert "[optimizers" not in text
    s = loads(text + '[[expect]]\nquantity = "r.w5"\nvalue = 0.0\ntolerance = 1.0\n')
    assert s.plan.optimizer is builtin_adagrad and s.plan.hyper.epsilon == 1e-10
    formula = loads(BLOG_ADAGRAD.replace("[optimizers.adagrad]", "[optimizers.my_adagrad]")
                    .replace('optimizer = "adagrad"', 'optimizer = "my_adagrad"'))
    assert train(s, 6).losses.tobytes() == train(formula, 6).losses.tobytes()  # g*g and g**2: the same bits
    with pytest.raises(ScenarioError, match='expected it only with optimizer = "adam" or "rmsprop" or "adagrad"'):
        loads(text.replace('optimizer = "adagrad"', 'optimizer = "sgd"\nepsilon = 0.1'))
    with pytest.raises(ScenarioError, match="one of sgd, momentum, nesterov, adam, rmsprop, adagrad"):
        loads(text.replace('optimizer = "adagrad"', 'optimizer = "adagrd"'))
    path = write(tmp_path, text)
    assert run_cli(capsys, "check", path)[0] == 0
    doc = json.loads(run_cli(capsys, "export", path, "--format", "json")[1])
    _, txt, _ = run_cli(capsys, "export", path, "--format", "txt", "--weight", "w5")
    assert "Adagrad, as torch.optim.Adagrad defines it" in txt and "r ← r + g²" in txt
    script = run_cli(capsys, "export", path, "--format", "py")[1]
    assert "def adagrad_step(p, g, state, t, h):" in script
    (tmp_path / "run.py").write_text(script)
    ran = subprocess.run([sys.executable, str(tmp_path / "run.py")], capture_output=True, text=True, check=True)
    losses = [float(line.split()[-1]) for line in ran.stdout.splitlines() if line.startswith("epoch ")]
    assert losses == [e["loss"] for e in doc["epochs"]]


def test_frozen_parameters_and_expectations_of_its_state_work_as_for_the_built_in_optimizers(tmp_path, capsys):
    """b1 frozen keeps its value and its r stays 0; an [[expect]] of r (state) and of an intermediate value is
    checked against the engine's numbers: r.w5 after update 1 is g5² (the blog's ∂E/∂w5 = 0.0036483, squared)."""
    text = (BLOG_ADAGRAD.replace('"r = r + g**2", ', '"r = r + g**2", "root = sqrt(r)", ')
            .replace("sqrt(r) + epsilon", "root + epsilon")
            .replace("weight_decay = 0.01", 'frozen = ["b1"]')
            .replace("learning_rate = 0.5", "learning_rate = 0.1"))
    text += ('[[expect]]\nquantity = "r.w5"\nvalue = 1.3310e-5\ntolerance = 1e-8\n'
             '[[expect]]\nquantity = "root.w5"\nvalue = 0.0036483\ntolerance = 1e-7\n'
             '[[expect]]\nquantity = "w5.after"\nvalue = 0.3\ntolerance = 1e-6\n')
    s = loads(text)
    assert s.plan.optimizer.shown_names == ("root",)
    result = train(s, 6)
    b1 = s.params.get("b1")
    assert result.weights[b1.layer - 1][b1.row, b1.col] == s.weights[b1.layer - 1][b1.row, b1.col]
    assert result.state[b1.layer - 1][0][b1.row, b1.col] == 0.0
    assert all(r.holds for r in Trace(s).check_all())
    code, out, _ = run_cli(capsys, "check", write(tmp_path, text))
    assert code == 0 and "3 of 3 hold" in out
    with pytest.raises(ScenarioError, match="keeps no m, expected r.NAME or root.NAME"):
        loads(text.replace('quantity = "r.w5"', 'quantity = "m.w5"'))
