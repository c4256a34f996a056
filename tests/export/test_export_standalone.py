"""The bundle reproduces the trained network, for every registered topology.

Each topology is trained a few steps directly and saved in the trainable's artifact layout;
its bundle must rebuild the same architecture from ``config.yaml`` and give the trained
model's predictions from ``model.ts`` (TorchScript) and from the generated, torch-only
``model.py`` loaded with ``weights.pt``.
"""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from export_helpers import TASKS, dataset, make_frame, quick_trial, record, sequence_of, source

from automtl.config import DomainSpec, InputSchema, ModelConfig, TaskSpec
from automtl.data import TabularDataset, encode_frame
from automtl.data.encode import unscale_labels
from automtl.export import export_trial, load_bundle_config
from automtl.export.bundle import BUNDLE_FILES
from automtl.export.standalone import extract, load_module, model_source
from automtl.models import available_topologies, build_model, get_topology

TOPOLOGIES = available_topologies()
#: float tolerance for "the same predictions" (observed differences are printed)
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def data() -> TabularDataset:
    return dataset(make_frame())


@pytest.fixture(scope="module")
def domain_data() -> TabularDataset:
    """The same data whose schema names ``city`` the domain column, for topologies that read
    each row's domain (star); the tasks stay the job's (one model over every domain)."""
    out = dataset(make_frame())
    out.schema = InputSchema.model_validate(
        {**out.schema.model_dump(),
         "domain": {"column": "city", "values": ["paris", "rome", "oslo", "lima"]}})
    return out


def _max_difference(expected: dict[str, torch.Tensor], actual: dict[str, torch.Tensor]) -> float:
    assert list(actual) == list(expected)
    return max(float((actual[k] - expected[k]).abs().max()) for k in expected)


def _model_config(topology: str, data: TabularDataset) -> ModelConfig:
    return ModelConfig(topology=topology, inputs=data.schema, tasks=TASKS,
                       sequence=sequence_of(TASKS))


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_bundle_reproduces_the_trained_model(topology: str, data: TabularDataset,
                                             domain_data: TabularDataset,
                                             tmp_path: Path, record_property: Any) -> None:
    if "domains" in get_topology(topology).job_fields:
        data = domain_data
    model, candidate = quick_trial(data, tmp_path / "trial-0", topology)
    trial = record(0, tmp_path / "trial-0", values={"click": 0.6, "watch": 1.0},
                   num_params=model.num_parameters())
    result = export_trial(source(trial), tmp_path / "bundle", trial=0)
    bundle = result.directory
    assert sorted(result.files) == sorted(BUNDLE_FILES)  # chosen by number: no choice.json

    # config.yaml is the complete candidate: it rebuilds exactly this architecture
    model_config, weighting, train = load_bundle_config(bundle / "config.yaml")
    assert model_config == model.config
    assert (weighting, train) == (candidate.weighting, candidate.train)
    rebuilt = build_model(model_config)
    assert rebuilt.num_parameters() == model.num_parameters()
    rebuilt.load_state_dict(torch.load(bundle / "weights.pt", weights_only=True))  # strict
    rebuilt.eval()

    split = data.valid
    with torch.no_grad():
        expected = model(split.numeric, split.categorical)
        scripted = torch.jit.load(str(bundle / "model.ts"))(split.numeric, split.categorical)
        standalone_module = load_module(bundle / "model.py", f"bundle_model_{topology}")
        standalone = standalone_module.load_model(str(bundle / "weights.pt"))
        loose = standalone(split.numeric, split.categorical)
        assert _max_difference(expected, rebuilt(split.numeric, split.categorical)) == 0.0
    # the standalone network's state dict is interchangeable with the trained one
    assert {k: v.shape for k, v in standalone.state_dict().items()} == \
        {k: v.shape for k, v in model.state_dict().items()}
    ts_diff, py_diff = _max_difference(expected, scripted), _max_difference(expected, loose)
    record_property("max_abs_diff_torchscript", ts_diff)
    record_property("max_abs_diff_model_py", py_diff)
    print(f"\n{topology}: max |difference| torchscript {ts_diff:.3g}, model.py {py_diff:.3g}")
    assert ts_diff <= TOLERANCE and py_diff <= TOLERANCE
    # the trained weights differ from a fresh initialisation, so equal outputs mean something
    with torch.no_grad():
        fresh = standalone_module.build_model().eval()(split.numeric, split.categorical)
    assert _max_difference(expected, fresh) > 1e-3


def test_model_py_is_the_model_zoo_source_not_a_copy(data: TabularDataset) -> None:
    """The generated classes are the ``automtl.models`` source verbatim (minus decorators)."""

    from automtl.models.layers import Experts
    from automtl.models.ple import PLE

    extraction = extract(PLE)
    names = [name for _, name in extraction.order]
    assert names.index("ExtractionLayer") < names.index("PLE")  # dependencies first
    assert {"MTLModel", "ModularMTL", "TaskHeads", "Experts", "Gate", "InputLayer"} <= set(names)
    # config types become namespaces in model.py (TopologyParams: the base's Params ClassVar;
    # TrainConfig: the argument of the base's penalty hook)
    assert extraction.config_names == {"ModelConfig", "InputSchema", "TaskSpec", "TopologyParams",
                                       "TrainConfig"}
    text = model_source(_model_config("ple", data))
    assert inspect.getsource(Experts) in text
    assert "register_topology" not in text.replace("``@register_topology``", "")
    imported = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported == {"__future__", "math", "collections", "types", "typing", "torch"}


def test_extract_refuses_classes_outside_the_model_zoo() -> None:
    with pytest.raises(ValueError, match="not defined in automtl.models"):
        extract(torch.nn.Linear)


def test_preprocess_matches_the_training_encoding(data: TabularDataset, tmp_path: Path) -> None:
    """model.py's torch-only preprocessing gives the tensors automtl's encode_frame gives,
    for unseen, missing and float-typed categories too."""
    text = model_source(_model_config("mmoe", data))
    (tmp_path / "model.py").write_text(text)
    module = load_module(tmp_path / "model.py", "preprocess_model")
    frame = make_frame(50, seed=5)
    frame.loc[0, "city"] = "tokyo"  # not in the vocabulary
    frame.loc[1, "city"] = None  # missing
    frame["slot"] = frame["slot"].astype(float)  # 3.0 must map like 3
    expected = encode_frame(frame, data.schema, TASKS, labels=False)
    numeric, categorical = module.preprocess(frame)
    assert torch.equal(numeric, expected.numeric)
    assert torch.equal(categorical, expected.categorical)
    assert categorical[0, 0] == 0 and categorical[1, 0] == 0 and categorical[2:, 1].min() > 0
    rows = frame.to_dict("records")
    assert torch.equal(module.preprocess(rows)[1], expected.categorical)
    with pytest.raises(KeyError, match="'x2'"):
        module.preprocess(frame.drop(columns=["x2"]))
    frame.loc[3, "x1"] = float("nan")  # imputed with the train mean, as encode_frame does
    expected = encode_frame(frame, data.schema, TASKS, labels=False)
    assert torch.equal(module.preprocess(frame)[0], expected.numeric)
    assert expected.numeric[3, 1] == pytest.approx((data.schema.numeric[1].fill
                                                    - data.schema.numeric[1].mean)
                                                   / data.schema.numeric[1].std)
    refusing = _model_config("mmoe", data).model_dump(mode="json")
    refusing["inputs"]["missing"] = "error"
    with pytest.raises(ValueError, match="'x1' is missing in row 3"):
        module.preprocess(frame, refusing)


_TORCH_ONLY = """
import importlib.abc, json, sys

class HideAutomtl(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "automtl":
            raise ImportError(f"automtl is hidden in this test ({name})")
        return None

sys.meta_path.insert(0, HideAutomtl())
sys.path.insert(0, sys.argv[1])
import torch
import model

network = model.load_model(sys.argv[2])
rows = json.loads(open(sys.argv[3]).read())
torch.save(model.predict(network, rows), sys.argv[4])
heavy = {"automtl", "pandas", "pydantic", "yaml", "sklearn", "optuna", "ray"}
print(json.dumps(sorted({n.split(".")[0] for n in sys.modules} & heavy)))
"""


def test_model_py_runs_with_torch_alone(data: TabularDataset, tmp_path: Path) -> None:
    """In a fresh interpreter where importing automtl fails, model.py loads weights.pt and
    scores raw rows exactly as the automtl model scores the encoded rows."""
    model, _ = quick_trial(data, tmp_path / "trial-0", "cgc")
    trial = record(0, tmp_path / "trial-0", values={"click": 0.6, "watch": 1.0})
    bundle = export_trial(source(trial), tmp_path / "bundle", trial=0).directory
    frame = make_frame(30, seed=9)
    rows = [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
            for row in frame.to_dict("records")]
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    out = tmp_path / "scores.pt"
    completed = subprocess.run(
        [sys.executable, "-c", _TORCH_ONLY, str(bundle), str(bundle / "weights.pt"),
         str(tmp_path / "rows.json"), str(out)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == []  # no automtl, no pandas
    scores = torch.load(out, weights_only=True)
    encoded = encode_frame(frame, data.schema, TASKS, labels=False)
    with torch.no_grad():
        logits = model(encoded.numeric, encoded.categorical)
    kinds = {t.name: t.type for t in TASKS}
    assert data.schema.label_scaling("watch") is not None  # regression: back to label units
    for name, value in logits.items():
        expected = torch.sigmoid(value) if kinds[name] == "binary" else torch.from_numpy(
            unscale_labels(value.double().numpy(), data.schema.label_scaling(name))).float()
        torch.testing.assert_close(scores[name], expected, rtol=1e-6, atol=TOLERANCE)


def test_multi_domain_bundle_predicts_each_rows_own_domain(tmp_path: Path) -> None:
    """A multi-domain model has a task per (task, domain); model.py's predict also returns
    each job task with every row's prediction from its own domain's task (NaN for a domain
    outside the job's), and config.yaml keeps the domain so the bundle rebuilds it."""
    from export_helpers import NUMERIC, train_trial

    tasks = [TaskSpec(name="click"), TaskSpec(name="watch", type="regression")]
    domains = DomainSpec(column="city", values=["paris", "rome", "oslo", "lima"])
    data = TabularDataset(make_frame(), tasks, numeric=NUMERIC, categorical=["slot"], seed=0,
                          domains=domains)
    assert [t.name for t in data.tasks][:4] == ["click__paris", "click__rome", "click__oslo",
                                                "click__lima"]
    model, _, _ = train_trial(data, tmp_path / "trial-0", "star", tasks=data.tasks)
    trial = record(0, tmp_path / "trial-0", values={"click": 0.6, "watch": 1.0})
    bundle = export_trial(source(trial), tmp_path / "bundle", trial=0).directory
    model_config, _, _ = load_bundle_config(bundle / "config.yaml")
    assert model_config.inputs.domain == domains and model_config.tasks == data.tasks
    module = load_module(bundle / "model.py", "bundle_model_domains")
    network = module.load_model(str(bundle / "weights.pt"))
    frame = make_frame(40, seed=3)
    frame.loc[0, "city"] = "tokyo"  # not a domain of the job
    scores = module.predict(network, frame)
    assert set(scores) == {t.name for t in data.tasks} | {"click", "watch"}
    for row, city in enumerate(frame["city"]):
        for task in ("click", "watch"):
            if city == "tokyo":
                assert torch.isnan(scores[task][row])
            else:
                assert scores[task][row] == scores[f"{task}__{city}"][row]
    encoded = encode_frame(frame, model_config.inputs, data.tasks, labels=False)
    with torch.no_grad():
        logits = model(encoded.numeric, encoded.categorical)
    torch.testing.assert_close(scores["click__rome"], torch.sigmoid(logits["click__rome"]),
                               rtol=1e-6, atol=TOLERANCE)
