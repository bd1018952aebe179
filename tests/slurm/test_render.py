"""sbatch rendering (a pure function): golden scripts for a GPU and a CPU-only everest job, the #SBATCH options,
the Apptainer command line, the worker command, and the `slurm:` section of hpoctl's configuration.

On a golden mismatch the test prints a unified diff and the command that regenerates the files; review the diff
before regenerating.
"""

from __future__ import annotations

import difflib
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from hpoctl.catalog import LoadedStudy, load_study
from hpoctl.config import ConfigError, SlurmJobSettings, load_config, parse_config
from hpoctl.plan import build_plans
from hpoctl.slurm.render import (
    RenderError,
    RenderOptions,
    container_prefix,
    cpu_count,
    flatten_overrides,
    format_time,
    memory,
    render_stage,
    render_study,
)
from hpoctl.spec.loader import parse_set_overrides, validate_spec

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "slurm"
REGENERATE = "HPOCTL_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/slurm -k golden"
RESULTS = Path("/scratch/hpo/results")


def golden_settings(study: str = "everest") -> SlurmJobSettings:
    return load_config(GOLDEN / "hpoctl.yaml").slurm.for_study(study)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("HPOCTL_REGEN_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    expected = path.read_text(encoding="utf-8") if path.exists() else ""
    if text != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True), text.splitlines(keepends=True), str(path), "rendered now"
            )
        )
        pytest.fail(f"{name} differs from the rendered script:\n{diff}\nregenerate with: {REGENERATE}")


def sbatch_lines(script: str) -> list[str]:
    return [line.removeprefix("#SBATCH ") for line in script.splitlines() if line.startswith("#SBATCH ")]


def test_golden_gpu_job_every_stage_of_every_target():
    plans = build_plans(load_study("everest"), "all")
    jobs = render_study(plans, RenderOptions(RESULTS, golden_settings()))
    assert [j.stage for j in jobs] == ["exploration", "refinement", "confirmation"]
    assert [j.previous for j in jobs] == [None, "exploration", "refinement"]
    check_golden("everest-gpu.sbatch", "\n".join(j.script for j in jobs))
    first = jobs[0]
    assert first.tasks == 27 and first.task_ids("M_24h") == [9, 10, 11] and first.task_of(10) == ("M_24h", 1)
    assert "--gres=gpu:l40s:1" in sbatch_lines(first.script)
    assert "apptainer exec --nv --bind" in first.script


def test_golden_cpu_only_job():
    """Seed 000's `submit_jobs.sh cpu M 24`: the cpu preset (no GPU, 8 CPUs, 32 GiB) on the CPU partition."""
    plans = build_plans(load_study("everest"), "M_24h", stage="exploration", presets=["cpu"])
    (job,) = render_study(plans, RenderOptions(RESULTS, golden_settings()))
    check_golden("everest-cpu.sbatch", job.script)
    options = sbatch_lines(job.script)
    assert "--partition=cpu" in options and "--cpus-per-task=8" in options and "--mem=32G" in options
    assert not any(o.startswith("--gres") for o in options)
    assert "--nv" not in job.script
    assert "--preset cpu" in job.script, "the worker rebuilds the same plan"


def test_sbatch_options_are_sorted_quoted_and_complete():
    settings = SlurmJobSettings(
        partition="gpu", account="solar-lab", sbatch={"constraint": "a100|h100", "exclusive": None}
    )
    plans = build_plans(load_study("everest"), "all")
    options = sbatch_lines(render_stage(plans, "exploration", RenderOptions(RESULTS, settings)).script)
    assert options == sorted(options)
    names = [o.split("=")[0] for o in options]
    for name in ("--array", "--job-name", "--partition", "--account", "--time", "--cpus-per-task", "--mem", "--gres"):
        assert name in names
    assert "--account=solar-lab" in options and "--constraint='a100|h100'" in options and "--exclusive" in options
    assert "--array=0-35%36" in options, "9 targets x 4 workers (limits.parallelism)"
    assert "--requeue" in options and "--open-mode=append" in options
    assert "--signal=B:USR1@120" in options, "the time-limit warning goes to the batch shell"
    assert f"--output={RESULTS}/everest/slurm/exploration/%A_%a.out" in options
    assert f"--error={RESULTS}/everest/slurm/exploration/%A_%a.err" in options


def test_script_is_valid_bash():
    plans = build_plans(load_study("everest"), "all")
    for job in render_study(plans, RenderOptions(RESULTS, golden_settings())):
        subprocess.run(["bash", "-n"], input=job.script, text=True, check=True)


def test_the_array_maps_tasks_to_targets_and_workers(tmp_path):
    """Run the set-up section of a rendered script with a task id, as SLURM would."""
    plans = build_plans(load_study("everest"), "all")
    job = render_stage(plans, "exploration", RenderOptions(RESULTS, SlurmJobSettings(workers=3)))
    setup = job.script.split("# set-up\n")[1].split("# command\n")[0]
    for task, (target, worker) in {0: ("C_24h", 0), 10: ("M_24h", 1), 26: ("X_72h", 2)}.items():
        done = subprocess.run(
            ["bash", "-c", f'{setup}\necho "$target $worker"'],
            env={"SLURM_ARRAY_TASK_ID": str(task), "PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.split() == [target, str(worker)]
        assert job.task_of(task) == (target, worker)


def command_of(script: str, task: int) -> list[str]:
    """The job's command line as bash builds it for array task `task` (modules stubbed out)."""
    body = script.split("# set-up\n")[1].split("\nrequeue=0")[0]
    done = subprocess.run(
        ["bash", "-c", f'module() {{ :; }}\n{body}\nprintf "%s\\n" "${{cmd[@]}}"'],
        env={"SLURM_ARRAY_TASK_ID": str(task), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def test_apptainer_command_line():
    plans = build_plans(load_study("everest"), "all")
    job = render_stage(plans, "exploration", RenderOptions(RESULTS, golden_settings()))
    image = "/scratch/hpo/images/hpoctl-trainer_0.1.0.sif"
    assert command_of(job.script, 10) == [
        "apptainer",
        "exec",
        "--nv",
        "--bind",
        f"{RESULTS},/scratch/hpo/data:/data:ro,/scratch/hpo/cache:/cache",
        image,
        "hpoctl",
        "worker",
        "everest",
        "--target",
        "M_24h",
        "--stage",
        "exploration",
        "--worker",
        "1",
        "--storage",
        f"{RESULTS}/everest/M_24h/study.journal",
        "--results",
        str(RESULTS),
        "--poll",
        "10",
    ]


def test_runtimes():
    assert container_prefix("singularity", "x.sif", binds=["/r"], gpu=False) == [
        "singularity",
        "exec",
        "--bind",
        "/r",
        "x.sif",
    ]
    assert container_prefix("apptainer", "x.sif", binds=[], gpu=True) == ["apptainer", "exec", "--nv", "x.sif"]
    assert container_prefix("none", None, binds=["/r"], gpu=True) == []
    plans = build_plans(load_study("mlp"), "default")
    job = render_stage(plans, "search", RenderOptions(RESULTS, SlurmJobSettings(), runtime="none"))
    assert "apptainer" not in job.script and " -m hpoctl worker mlp " in job.script
    with pytest.raises(RenderError, match="unknown container runtime 'docker'"):
        render_stage(plans, "search", RenderOptions(RESULTS, SlurmJobSettings(), runtime="docker"))


def test_without_an_image_the_registry_image_is_used_with_a_note():
    plans = build_plans(load_study("mlp"), "default")
    job = render_stage(plans, "search", RenderOptions(RESULTS, SlurmJobSettings()))
    assert "apptainer exec --bind /scratch/hpo/results docker://ghcr.io/hpoctl/trainer:0.1.0" in job.script
    assert any("slurm.image is not set" in n for n in job.notes)


def test_a_study_file_is_named_by_absolute_path_and_bound(tmp_path):
    raw = load_study("mlp").raw
    path = tmp_path / "my-study.yaml"
    path.write_text(yaml.safe_dump(raw))
    plans = build_plans(LoadedStudy(raw, validate_spec(raw, str(path)), str(path)), "default")
    job = render_stage(plans, "search", RenderOptions(RESULTS, SlurmJobSettings(image="/i.sif")))
    assert f"hpoctl worker {path}" in job.script
    assert f"--bind {RESULTS},{tmp_path} /i.sif" in job.script


def test_a_study_with_no_file_behind_it_is_refused_before_anything_is_submitted():
    raw = load_study("mlp").raw
    plans = build_plans(LoadedStudy(raw, validate_spec(raw, "in memory"), "in memory"), "default")
    with pytest.raises(RenderError, match="SLURM jobs read the spec on the compute nodes, so save it as a YAML file"):
        render_stage(plans, "search", RenderOptions(RESULTS, SlurmJobSettings(image="/i.sif")))


def test_overrides_travel_to_the_worker():
    overrides = parse_set_overrides(["limits.max_trials=12", "algorithm.settings.seed=3", "trainer.args.data=/d x"])
    assert dict(flatten_overrides(overrides)) == {
        "limits.max_trials": "12",
        "algorithm.settings.seed": "3",
        "trainer.args.data": '"/d x"',
    }
    plans = build_plans(load_study("mlp"), "default", presets=["quick"], overrides=overrides)
    script = render_stage(plans, "search", RenderOptions(RESULTS, SlurmJobSettings(), seed=5)).script
    assert "--preset quick --set limits.max_trials=12 --set algorithm.settings.seed=3" in script
    assert "--set 'trainer.args.data=\"/d x\"'" in script and "--seed 5" in script
    assert parse_set_overrides([f"{k}={v}" for k, v in flatten_overrides(overrides)]) == overrides


def test_time_limit_from_the_stage_capped_by_the_cluster(tmp_path):
    raw = {**load_study("everest").raw}
    raw["protocol"] = [{**raw["protocol"][0], "timeout": "3h"}, *raw["protocol"][1:]]
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(raw))
    plans = build_plans(LoadedStudy(raw, validate_spec(raw, str(path)), str(path)), "M_24h")
    jobs = render_study(plans, RenderOptions(RESULTS, SlurmJobSettings(time_limit=20 * 3600)))
    assert [o for j in jobs for o in sbatch_lines(j.script) if o.startswith("--time")] == [
        "--time=03:00:00",  # the stage's timeout
        "--time=20:00:00",  # limits.timeout (24h) capped by slurm.time_limit
        "--time=20:00:00",
    ]
    with pytest.raises(RenderError, match=r"longer than slurm\.signal_grace"):
        render_study(plans, RenderOptions(RESULTS, SlurmJobSettings(time_limit=60)))


def test_workers_never_exceed_a_stage_trials():
    plans = build_plans(load_study("everest"), "M_24h", presets=["quick"])
    jobs = render_study(plans, RenderOptions(RESULTS, SlurmJobSettings(workers=3)))
    assert [(j.stage, j.workers) for j in jobs] == [
        ("exploration", 3),
        ("refinement", 3),
        ("confirmation", 3),
    ]  # top 2 x 2 seeds


@pytest.mark.parametrize(
    ("quantity", "expected"), [("16Gi", "16G"), ("2Gi", "2G"), ("512Mi", "512M"), ("1.5Gi", "1536M"), ("2G", "1908M")]
)
def test_memory(quantity, expected):
    assert memory(quantity) == expected


def test_cpus_and_time():
    assert [cpu_count(c) for c in ("4", "500m", 2.5, 1)] == [4, 1, 3, 1]
    assert format_time(24 * 3600) == "1-00:00:00" and format_time(90) == "00:02:00" and format_time(3600) == "01:00:00"


def test_results_folder_must_be_absolute():
    with pytest.raises(RenderError, match="absolute path"):
        render_study(build_plans(load_study("mlp"), "default"), RenderOptions(Path("results")))


def test_config_reports_every_invalid_key_with_the_valid_ones():
    raw = {
        "slurm": {
            "partion": "gpu",
            "workers": 0,
            "runtime": "docker",
            "sbatch": {"array": "0-3", "constraint": "a100"},
            "studies": {"everest": {"qos": "high", "bogus": 1}},
        }
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, "hpoctl.yaml")
    problems = caught.value.problems
    assert len(problems) == 5, problems
    text = "\n".join(problems)
    assert "slurm.partion: unknown key; valid keys: account, binds," in text
    assert "slurm.studies.everest.bogus: unknown key; valid keys: account," in text
    assert "slurm.workers:" in text and "slurm.runtime:" in text
    assert "slurm.sbatch: array: written by hpoctl" in text


def test_per_study_overrides_only_what_they_set():
    config = parse_config({"slurm": {"partition": "gpu", "workers": 2, "studies": {"everest": {"partition": "a100"}}}})
    assert config.slurm.for_study("everest").partition == "a100"
    assert config.slurm.for_study("everest").workers == 2
    assert config.slurm.for_study("mlp").partition == "gpu"
    assert golden_settings("mlp").gpu_type is None and golden_settings().gpu_type == "l40s"


def test_render_cli_prints_the_scripts(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("HPOCTL_RESULTS", str(tmp_path / "results"))
    config = GOLDEN / "hpoctl.yaml"
    result = cli("render", "everest", "--target", "all", "--backend", "slurm", "--config", str(config))
    assert result.code == 0, result.err
    assert result.out.count("#!/bin/bash") == 3
    assert f"--output={tmp_path}/results/everest/slurm/exploration/%A_%a.out" in result.out
    one = cli("render", "everest", "-t", "M_24h", "-b", "slurm", "--stage", "confirmation", "--config", str(config))
    assert one.code == 0 and one.out.count("#!/bin/bash") == 1 and "--array=0-2%3" in one.out
    assert not (tmp_path / "results").exists(), "render writes nothing"


def test_trials_share_a_gpu_by_shards_where_the_cluster_has_them():
    settings = golden_settings().model_copy(update={"gpu_shards": 8})
    overrides = parse_set_overrides(["resources.trials_per_gpu=4"])
    plans = build_plans(load_study("everest"), "M_24h", overrides=overrides)
    script = render_stage(plans, "exploration", RenderOptions(RESULTS, settings)).script
    assert "--gres=shard:2" in sbatch_lines(script) and "export HPOCTL_SLURM_SHARDS=2" in script
    auto = render_stage(build_plans(load_study("everest"), "M_24h"), "exploration", RenderOptions(RESULTS, settings))
    assert "--gres=gpu:l40s:1" in sbatch_lines(auto.script) and "HPOCTL_SLURM_SHARDS" not in auto.script


def test_a_task_packs_its_gpu_unless_slurm_shards_it(monkeypatch):
    from hpoctl.slurm.worker import task_gpu_leases

    plan = build_plans(load_study("everest"), "M_24h")[0]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    leases = task_gpu_leases(plan, environ={})
    assert leases is not None and leases.slots == 8 and leases.capacities() == [1]  # auto: alone until measured
    assert task_gpu_leases(plan, environ={"HPOCTL_SLURM_SHARDS": "2"}) is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert task_gpu_leases(plan, environ={}) is None
