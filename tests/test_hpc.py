"""HPC profiles, partition matching and scheduler generation, without a Slurm cluster: the
seed's custom-profile tutorial, ``torc slurm generate`` against a checked-in expected spec,
and ``torc slurm regenerate`` on a real server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cli.main import cli
from tests.conftest import REPO
from tests.helpers import torc

DATA = REPO / "tests" / "data" / "slurm"


@pytest.fixture
def config_home(tmp_path: Path) -> Path:
    """A configuration directory holding the tutorial's ``research`` profile."""
    home = tmp_path / "config"
    (home / "torc").mkdir(parents=True)
    (home / "torc" / "config.toml").write_text((DATA / "research.toml").read_text())
    return home


def invoke(config_home: Path, *args: str, **env: str):
    runner = CliRunner()
    return runner.invoke(
        cli, list(args), env={"XDG_CONFIG_HOME": str(config_home), **env}, catch_exceptions=False
    )


@pytest.mark.parametrize(
    ("flags", "best"),
    [
        (["--cpus", "8", "--memory", "16g", "--walltime", "2h"], "short"),
        (["--cpus", "16", "--memory", "64g", "--walltime", "8h", "--gpus", "2"], "gpu"),
        (["--cpus", "24", "--memory", "512g", "--walltime", "24h"], "himem"),
    ],
)
def test_tutorial_matching_cases(config_home: Path, flags: list[str], best: str) -> None:
    # The tutorial's form (profile first) and the reference's (--profile) agree.
    tutorial = invoke(config_home, "-f", "json", "hpc", "match", "research", *flags)
    assert tutorial.exit_code == 0, tutorial.output
    assert json.loads(tutorial.output)["best"] == best
    reference = invoke(config_home, "hpc", "match", "--profile", "research", *flags)
    assert reference.exit_code == 0
    assert reference.output.rstrip().endswith(f"Best match: {best}")


def test_no_partition_found_names_what_does_not_fit(config_home: Path) -> None:
    result = invoke(config_home, "hpc", "match", "research", "--cpus", "8", "--memory", "2048g")
    assert result.exit_code == 1
    assert "No partition found" in result.output
    assert "2048 GB memory > 1024 GB" in result.output  # himem, the largest
    gpus = invoke(config_home, "hpc", "match", "research", "--gpus", "8", "--walltime", "1h")
    assert "8 GPUs > 4" in gpus.output


def test_profiles_list_detect_show_and_partitions(config_home: Path) -> None:
    listed = invoke(config_home, "-f", "json", "hpc", "list", CLUSTER_NAME="research")
    profiles = {p["name"]: p for p in json.loads(listed.output)["profiles"]}
    assert profiles["kestrel"]["partitions"] == 15 and profiles["kestrel"]["builtin"]
    assert profiles["research"]["partitions"] == 4
    assert profiles["research"]["detected"] and not profiles["kestrel"]["detected"]
    table = invoke(config_home, "hpc", "list", CLUSTER_NAME="research").output
    assert table.startswith("Known HPC profiles:")
    assert re.search(r"research\s+Research Cluster\s+4\s+✓", table)
    detected = invoke(config_home, "-f", "json", "hpc", "detect", NREL_CLUSTER="kestrel")
    assert json.loads(detected.output)["detected"] == "kestrel"
    shown = invoke(config_home, "hpc", "show", "research").output
    assert "Detection: environment variable CLUSTER_NAME=research" in shown
    assert "Default account: my_project" in shown
    partitions = invoke(config_home, "hpc", "partitions", "research").output
    assert partitions.startswith("Partitions for research:")
    assert re.search(r"gpu\s+32\s+256 GB\s+48h\s+4 \(A100\)", partitions)
    assert re.search(r"himem\s+48\s+1024 GB\s+48h\s+-", partitions)
    only_gpu = invoke(config_home, "-f", "json", "hpc", "partitions", "research", "--gpu")
    assert [p["name"] for p in json.loads(only_gpu.output)["partitions"]] == ["gpu"]
    shared = invoke(config_home, "-f", "json", "hpc", "partitions", "research", "--shared")
    assert [p["name"] for p in json.loads(shared.output)["partitions"]] == ["short"]


def test_overrides_and_bad_profiles(config_home: Path) -> None:
    path = config_home / "torc" / "config.toml"
    path.write_text(
        path.read_text() + '\n[client.hpc.profile_overrides.kestrel]\ndefault_account = "acct"\n'
    )
    shown = invoke(config_home, "-f", "json", "hpc", "show", "kestrel")
    assert json.loads(shown.output)["default_account"] == "acct"
    unknown = invoke(config_home, "hpc", "partitions", "nosuch")
    assert unknown.exit_code == 1 and "unknown HPC profile 'nosuch'" in unknown.output


def test_generate_matches_the_expected_spec(config_home: Path, tmp_path: Path) -> None:
    """The seed's pipeline (plus a 12-way fan-out) on the tutorial's cluster."""
    result = invoke(
        config_home,
        "slurm",
        "generate",
        "--account",
        "my_project",
        "--profile",
        "research",
        str(DATA / "pipeline.yaml"),
    )
    assert result.exit_code == 0, result.output
    generated = yaml.safe_load(result.output)
    assert generated == yaml.safe_load((DATA / "pipeline.expected.yaml").read_text())
    # The light jobs before and after the others get separate schedulers and stages; the
    # 12 evaluations, one per node, get 12 allocations once train_model is done.
    actions = {a["scheduler"]: a for a in generated["actions"]}
    assert actions["light_scheduler"]["trigger_type"] == "on_workflow_start"
    assert actions["compute_deferred_scheduler"]["num_allocations"] == 12
    assert actions["light_deferred_scheduler"]["jobs"] == ["generate_report"]
    # The generated spec is a valid workflow.
    out = tmp_path / "generated.json"
    written = invoke(
        config_home, "slurm", "generate", "--profile", "research", "-o", str(out),
        str(DATA / "pipeline.yaml"),
    )  # fmt: skip
    assert written.exit_code == 0, written.output  # the profile's default_account
    assert json.loads(out.read_text()) == generated
    dry = invoke(config_home, "-f", "json", "workflows", "create", "--dry-run", str(out))
    assert json.loads(dry.output)["valid"] is True


def test_generate_options(config_home: Path) -> None:
    base = ["slurm", "generate", "--profile", "research", str(DATA / "pipeline.yaml")]
    by_partition = yaml.safe_load(invoke(config_home, *base, "--group-by", "partition").output)
    assert [s["name"] for s in by_partition["slurm_schedulers"]] == [
        "short_scheduler",
        "gpu_deferred_scheduler",
        "batch_deferred_scheduler",
        "short_deferred_scheduler",
    ]
    longest = yaml.safe_load(
        invoke(config_home, *base, "--walltime-strategy", "max-partition-time").output
    )
    assert {s["walltime"] for s in longest["slurm_schedulers"]} == {
        "04:00:00",
        "2-00:00:00",
        "3-00:00:00",
    }
    exact = yaml.safe_load(invoke(config_home, *base, "--walltime-multiplier", "1.0").output)
    assert exact["slurm_schedulers"][0]["walltime"] == "00:30:00"
    bare = yaml.safe_load(invoke(config_home, *base, "--no-actions").output)
    assert "actions" not in bare and bare["jobs"][0]["scheduler"] == "light_scheduler"
    single = yaml.safe_load(invoke(config_home, *base, "--single-allocation").output)
    compute = next(s for s in single["slurm_schedulers"] if s["name"].startswith("compute"))
    assert compute["nodes"] == 12
    fan_out = next(a for a in single["actions"] if a["scheduler"] == compute["name"])
    assert fan_out["num_allocations"] == 1 and fan_out["start_one_worker_per_node"] is True
    preview = invoke(config_home, *base, "--dry-run").output
    assert "compute_deferred_scheduler: partition batch" in preview


def test_generate_keeps_or_overwrites_the_specs_own_schedulers(
    config_home: Path, tmp_path: Path
) -> None:
    spec = yaml.safe_load((DATA / "pipeline.yaml").read_text())
    spec["slurm_schedulers"] = [{"name": "mine", "account": "acct", "walltime": "08:00:00"}]
    spec["jobs"][1]["scheduler"] = "mine"
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump(spec))
    base = ["slurm", "generate", "--profile", "research", str(path)]
    kept = yaml.safe_load(invoke(config_home, *base).output)
    assert kept["slurm_schedulers"][0]["name"] == "mine"
    assert kept["jobs"][1]["scheduler"] == "mine"
    # The evaluations wait for the hand-scheduled train_model: still a later stage.
    evaluate = next(a for a in kept["actions"] if "evaluate_1" in a.get("jobs", []))
    assert evaluate["trigger_type"] == "on_jobs_ready"
    replaced = yaml.safe_load(invoke(config_home, *base, "--overwrite").output)
    assert "mine" not in [s["name"] for s in replaced["slurm_schedulers"]]
    assert replaced == yaml.safe_load((DATA / "pipeline.expected.yaml").read_text())


def test_generate_refuses_a_job_no_partition_fits(config_home: Path, tmp_path: Path) -> None:
    spec = yaml.safe_load((DATA / "pipeline.yaml").read_text())
    spec["resource_requirements"][2]["memory"] = "4096g"
    path = tmp_path / "huge.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = torc(
        "slurm", "generate", "--profile", "research", str(path),
        env={"XDG_CONFIG_HOME": str(config_home)},
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: {path}: No partition found for job 'train_model'")
    assert "4096 GB memory > 1024 GB" in result.stderr


def test_regenerate_plans_the_jobs_still_to_run(config_home: Path, server, api) -> None:
    """Regenerate on the server: the dry run is the expected plan; the real one creates the
    schedulers, binds the jobs, retires the old actions and adds recovery actions, which the
    next initialization removes."""
    env = {"XDG_CONFIG_HOME": str(config_home), "TORC_API_URL": server.url}
    created = torc(
        "-f", "json", "workflows", "create-slurm", "--hpc-profile", "research",
        str(DATA / "pipeline.yaml"), env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    workflow_id = json.loads(created.stdout)["workflow_id"]
    api.initialize(workflow_id)
    # preprocess and train_model are done: the rest is planned, evaluations now first.
    for name in ("preprocess", "train_model"):
        api.finish(api.run_to_pending(workflow_id, [name])[name])
    base = ["slurm", "regenerate", str(workflow_id), "--profile", "research"]
    actions_before = api.get(f"/workflows/{workflow_id}/actions")
    dry = torc("-f", "json", *base, "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    expected = json.loads((DATA / "regenerate.expected.json").read_text())
    assert normalised(plan, workflow_id) == expected
    assert api.get(f"/workflows/{workflow_id}/actions") == actions_before
    done = [j["id"] for j in api.get("/jobs", params={"workflow_id": workflow_id})["items"][:2]]
    included = torc(
        "-f", "json", *base, "--dry-run", "--include-job-ids", ",".join(map(str, done)), env=env
    )  # fmt: skip
    assert json.loads(included.stdout)["jobs_planned"] == 15  # the 13 left and the 2 done
    real = torc("-f", "json", *base, env=env)
    assert real.returncode == 0, real.stderr
    result = json.loads(real.stdout)
    names = {s["name"]: s["id"] for s in result["schedulers"]}
    jobs = {j["name"]: j for j in api.get("/jobs", params={"workflow_id": workflow_id})["items"]}
    compute = next(i for n, i in names.items() if n.startswith("compute_regen_"))
    assert all(jobs[f"evaluate_{i}"]["scheduler_id"] == compute for i in range(1, 13))
    actions = api.get(f"/workflows/{workflow_id}/actions")
    old = [a for a in actions if not a["is_recovery"] and a["action_type"] == "schedule_nodes"]
    assert all(a["executed"] for a in old)
    recovery = [a for a in actions if a["is_recovery"]]
    assert [a["trigger_type"] for a in recovery] == ["on_workflow_start", "on_jobs_ready"]
    pending = api.get(f"/workflows/{workflow_id}/actions/pending")
    assert [a["id"] for a in pending] == [recovery[0]["id"]]  # due now: --submit would send it
    api.post(f"/workflows/{workflow_id}/initialize_jobs")
    assert not any(a["is_recovery"] for a in api.get(f"/workflows/{workflow_id}/actions"))


def normalised(plan: dict, workflow_id: int) -> dict:
    """The plan without what differs between runs: the workflow ID, the timestamp in names."""
    text = json.dumps(plan, sort_keys=True)
    text = re.sub(r"_regen_\d{8}_\d{6}", "_regen_<time>", text)
    data = json.loads(text)
    data["workflow_id"] = "<id>"
    return data


def test_create_slurm_dry_run_and_submit_errors(config_home: Path, server, api) -> None:
    """The preview creates nothing; submitting without Slurm's commands says so and leaves
    no allocation recorded; a workflow without a start action is refused."""
    env = {"XDG_CONFIG_HOME": str(config_home), "TORC_API_URL": server.url}
    before = len(api.get("/workflows", params={"limit": 10000})["items"])
    dry = torc(
        "-f", "json", "workflows", "create-slurm", "--hpc-profile", "research", "--dry-run",
        str(DATA / "pipeline.yaml"), env=env,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["allocations"] == 15
    assert len(api.get("/workflows", params={"limit": 10000})["items"]) == before
    created = torc(
        "-f", "json", "workflows", "create-slurm", "--hpc-profile", "research",
        str(DATA / "pipeline.yaml"), env=env,
    )  # fmt: skip
    workflow_id = json.loads(created.stdout)["workflow_id"]
    no_slurm = torc("workflows", "submit", str(workflow_id), env={**env, "PATH": "/nonexistent"})
    assert no_slurm.returncode == 1
    assert "sbatch not found: Slurm's commands must be on PATH" in no_slurm.stderr
    nodes = api.get("/scheduled_compute_nodes", params={"workflow_id": workflow_id})["items"]
    assert nodes == []
    plain = api.workflow("no_start_action")
    refused = torc("workflows", "submit", str(plain), env=env)
    assert refused.returncode == 1
    assert "has no on_workflow_start action with schedule_nodes" in refused.stderr
    assert "use submit-slurm instead" in refused.stderr


def test_profile_from_sinfo_and_scontrol_text() -> None:
    """What `hpc generate` makes of a GPU cluster's sinfo and scontrol lines."""
    from app.shared.hpc import HpcProfile, profile_from_slurm, profile_toml
    from app.shared.slurm import parse_scontrol_oneliners, parse_sinfo

    sinfo = parse_sinfo(
        "cpu*|64|256000|2-00:00:00|(null)|10\n"
        "cpu*|64|192000|2-00:00:00|(null)|4\n"
        "gpu|32|512000|1-00:00:00|gpu:a100:4(S:0-1)|2\n"
        "gpu-stdby|32|512000|infinite|gpu:a100:4|2\n"
        "big|128|2048000|UNLIMITED|(null)|1\n"
    )
    scontrol = parse_scontrol_oneliners(
        "PartitionName=cpu AllowGroups=ALL Default=YES MinNodes=0 MaxTime=2-00:00:00 "
        "OverSubscribe=NO\n"
        "PartitionName=gpu MinNodes=1 MaxTime=1-00:00:00 OverSubscribe=YES:4\n"
        "PartitionName=big MinNodes=2 MaxTime=UNLIMITED OverSubscribe=EXCLUSIVE\n",
        "PartitionName",
    )
    profile = profile_from_slurm(
        sinfo, scontrol, "mycluster", None, "login1.mycluster.edu", skip_stdby=True
    )
    partitions = {p.name: p for p in profile.partitions}
    assert sorted(partitions) == ["big", "cpu", "gpu"]
    assert (partitions["cpu"].cpus_per_node, partitions["cpu"].memory_mb) == (64, 192000)
    assert partitions["cpu"].max_walltime_secs == 172800 and not partitions["cpu"].shared
    gpu = partitions["gpu"]
    assert (gpu.gpus_per_node, gpu.gpu_type, gpu.shared) == (4, "a100", True)
    assert partitions["big"].min_nodes == 2 and partitions["big"].max_walltime_secs == 31536000
    assert profile.detect_hostname == ".*\\.mycluster\\.edu"
    assert profile.matches_system({}, "login7.mycluster.edu")
    # The TOML is a config file's section: it reads back as the same profile.
    import tomllib

    data = tomllib.loads(profile_toml(profile))["client"]["hpc"]["custom_profiles"]["mycluster"]
    again = HpcProfile.from_dict(data, "mycluster")
    assert [p.as_dict() for p in again.partitions] == [p.as_dict() for p in profile.partitions]


def test_slurm_formats() -> None:
    from app.shared.slurm import (
        format_memory_mb,
        format_walltime,
        gres_gpus,
        memory_bytes,
        parse_job_id,
        walltime_seconds,
    )

    assert [walltime_seconds(t) for t in ("30", "1:30", "04:00:00", "2-00:00:00", "1-12")] == [
        1800,
        90,
        14400,
        172800,
        129600,
    ]
    assert walltime_seconds("UNLIMITED") is None
    assert [format_walltime(s) for s in (45, 2700, 90000)] == ["00:00:45", "00:45:00", "1-01:00:00"]
    assert memory_bytes("180G") == 180 * 1024**3 and memory_bytes("512") == 512 * 1024**2
    assert [format_memory_mb(m) for m in (2048, 8448, 0.5)] == ["2g", "8448m", "1m"]
    assert gres_gpus("gpu:a100:4") == (4, "a100") and gres_gpus("gpu:2") == (2, None)
    assert gres_gpus("(null)") == (0, None)
    assert parse_job_id("Submitted batch job 4242\n") == 4242 == parse_job_id("4242;cluster")


def test_slurm_scheduler_records(server, api) -> None:
    """`torc slurm create / update / list / get / delete` on a real server."""
    env = {"TORC_API_URL": server.url}
    workflow_id = api.post("/workflows", {"name": "records", "user": "me"})["id"]
    created = torc(
        "-f", "json", "slurm", "create", str(workflow_id), "-n", "cpu", "-a", "proj",
        "-m", "8G", "-N", "2", "-p", "short", "-W", "01:00:00", "-e", "--exclusive", env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    record = json.loads(created.stdout)
    assert (record["name"], record["account"], record["mem"], record["nodes"]) == (
        "cpu", "proj", "8G", 2,
    )  # fmt: skip
    assert (record["partition"], record["walltime"], record["extra"]) == (
        "short", "01:00:00", "--exclusive",
    )  # fmt: skip
    updated = torc(
        "-f", "json", "slurm", "update", str(record["id"]), "--walltime", "02:00:00", "-q", "high",
        env=env,
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr
    assert json.loads(updated.stdout)["walltime"] == "02:00:00"
    got = json.loads(torc("-f", "json", "slurm", "get", str(record["id"]), env=env).stdout)
    assert (got["walltime"], got["qos"], got["account"]) == ("02:00:00", "high", "proj")
    listed = torc("slurm", "list", str(workflow_id), env=env)
    assert listed.returncode == 0 and "cpu" in listed.stdout and "02:00:00" in listed.stdout
    deleted = torc("slurm", "delete", str(record["id"]), env=env)
    assert deleted.returncode == 0, deleted.stderr
    missing = torc("slurm", "get", str(record["id"]), env=env)
    assert missing.returncode == 1 and missing.stderr.startswith("Error: ")
    assert missing.stderr.count("\n") == 1
