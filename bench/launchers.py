"""The ``launchers`` section: one sweep, four ways to run it, on the same machine in one run.

The sweep: ``architecture.bottleneck`` x ``seed`` (8 jobs in the full profile) on
``make_classification`` data, one epoch count (a swept ``trainer.epochs`` runs in stages,
which no peer does), everything else aesweep's defaults (controls PCA and untrained
encoder, 1000 bootstrap resamples, the model and plots logged to MLflow). Ways:

1. ``in-process``: ``aesweep -m GRID`` (Hydra's basic launcher: one process, one job at a
   time, each with every core);
2. ``joblib``: ``... hydra/launcher=joblib hydra.launcher.n_jobs=SLOTS``;
3. ``ray``: ``... hydra/launcher=ray hydra.launcher.ray.init.num_cpus=SLOTS
   hydra.launcher.ray.init.address=local`` (a fresh local Ray instance; one CPU per job,
   aesweep's default). ``address=local`` is what the default ``address=null`` is meant to
   do, but ``ray.init(address=None)`` joins a cluster that ``ray start`` left on the
   machine (``/tmp/ray/ray_current_cluster``) and then refuses ``num_cpus``;
4. ``tune``: the peer, ``tune_peer.py``: the same trainings as a plain Ray Tune experiment,
   ``model.fit`` and two ``LogisticRegression`` fits, no aesweep (see that file).

Each runs as a fresh process (its start, imports and exit included in its wall time), in a
fresh directory with ``paths.root`` there (its own SQLite store, no shared cache or
checkpoint). ``MLFLOW_TRACKING_URI`` and ``RAY_ADDRESS`` are removed from the environment;
``RAY_DEDUP_LOGS=0`` makes Ray print every job's headline line with its worker's pid. Each
process starts a session of its own: whatever still runs 5 s after it exits (a Ray
daemon) is found by that session id, counted in ``leftover_processes`` and ended. This
machine may be shared: before each way the section waits (at most ``quiet_patience_s``,
90 s by default) until other processes use < 0.5 core, and during each it samples the CPU
seconds of its own processes and of the whole machine; ``others_cores`` is how many cores
other processes kept busy on average, the noise in that way's figures.

Figures (``SLOTS`` = 2 here, ``N`` jobs):

- **wall**: each way's process wall time; **speed-up** of joblib and Ray = in-process wall /
  their wall (target >= 1.6 on 2 cores).
- **a job's own work** ``w``: from the moment Hydra starts the job in its worker (the mtime
  of the job's ``.hydra/overrides.yaml``, the last file Hydra writes before calling the
  task) to the end of its MLflow run (``end_time``). It is measured the same way for every
  launcher, so it holds what every job does whoever runs it: validation, data, the skip
  check, the run itself (training, controls, bootstrap, logging params, metrics, the model
  and plots), and a worker's first-job costs (TensorFlow's first use).
  ``pre_run_s`` (job start -> run start) and ``run_s`` (the run's own duration) are kept
  apart in the JSON.
- **overhead per job** of a way = ``(slots x wall - sum of w) / N``: the slot-seconds not
  spent on a job's own work, per job (1 slot in-process). It splits exactly into, per
  slot, ``startup`` (process start -> its first job starts: the driver's imports, config,
  store and parent run, and for a pool its worker's start), ``gaps`` (one job's end -> the
  next job's start on the same slot: the launcher's dispatch and result round trip) and
  ``tail`` (last job's end -> process exit: the report, shutdown, and the wait for the
  other slot's last job). Slots are assigned by time: a job goes to the slot freed last
  before it started.
- **Ray's per-job overhead** (target <= 1 s) = Ray's overhead per job - joblib's. Both run
  the same driver work (Hydra, the store, the parent run, the report) and pay the same
  per-worker imports and first-job costs on the same slots; joblib is the baseline a
  local parallel launcher costs, so the difference is what Ray itself adds per job: its
  instance's start and stop, spawning its workers, and each task's submission, scheduling
  and result (``ray_overhead_split_per_job_s``: start-up, gaps, tail). The absolute
  figures and their split are in the JSON (``overhead_per_job_s``, ``split_per_job_s``;
  ``overhead_beyond_driver_per_job_s``: a way's overhead less the in-process driver's
  fixed work paid on every slot), and so is every job's start and end (epoch seconds)
  with the process's start, so any other split can be recomputed. Fixed costs (Ray's
  start) are spread over N jobs: this figure falls as a sweep grows; ``gaps`` is the
  part that does not.
- **aesweep-on-Ray / Ray Tune** = their walls (target <= 1.1). aesweep does more per job
  than the peer (two control fits, a bootstrap, MLflow logging of params, per-epoch
  metrics, the encoder as a model, plots; a store, a parent run and a report per sweep)
  but trains with its own loop rather than ``model.fit``, and Tune starts a fresh actor
  process per trial (its default); the sums of training seconds are kept (``train_s_sum``)
  and so is ``non_training_per_job_s`` = ``(slots x wall - sum of training) / N``, to tell
  the two apart. The raw-feature accuracies of both are compared job by job
  (``peer_raw_accuracy_matches``; same data, split, scaling and downstream model): a
  check that the peer runs the same jobs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

from processes import AESWEEP, BENCH, PYTHON, env

WAYS = ("in-process", "joblib", "ray", "tune")
# make_classification's arguments other than the profile's sizes: the dataset group's.
DATASET = {"n_informative": 10, "n_redundant": 10, "random_state": 0}
SPLIT = {"test_size": 0.2, "val_size": 0.1}
BATCH_SIZE = 64
_HYDRA_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\]\[HYDRA\] (.*)$")
_JOB_LINE = re.compile(r"^\s*#(\d+) : ")
_RAY_LINE = re.compile(r"\((?:_run_job|trial) pid=(\d+)\).*run=([0-9a-f]{32})")
_RUNS_CODE = """
import json, sys
from mlflow.tracking import MlflowClient
client = MlflowClient(sys.argv[1])
ids = [e.experiment_id for e in client.search_experiments()]
print(json.dumps([{"run_id": r.info.run_id, "status": r.info.status,
                   "start": r.info.start_time / 1000,
                   "end": r.info.end_time / 1000 if r.info.end_time else None,
                   "tags": dict(r.data.tags), "metrics": dict(r.data.metrics),
                   "params": dict(r.data.params)}
                  for r in client.search_runs(ids, max_results=10000)]))
"""


def say(*parts: Any) -> None:
    print(*parts, flush=True)


# ---------------------------------------------------------------------------- processes


TICK = os.sysconf("SC_CLK_TCK")


def _session_cpu(sid: int, zombies: bool = True) -> dict[int, float]:
    """CPU seconds (user + system) of each process of session ``sid``, from /proc."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        # After the name: state, ppid, pgrp, session, ...
        if int(fields[3]) == sid and (zombies or fields[0] != "Z"):
            found[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / TICK
    return found


def machine_busy() -> float:
    """CPU seconds this machine has been busy, all processes (the first line of /proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / TICK


def wait_for_quiet(busy_cores: float = 0.5, patience: float = 90) -> dict[str, float]:
    """Wait (at most ``patience`` s) until other processes use < ``busy_cores`` cores over
    3 s; return the last reading and the wait: other work on this machine skews a way."""
    started = time.perf_counter()
    while True:
        before = machine_busy()
        time.sleep(3)
        cores = (machine_busy() - before) / 3
        waited = time.perf_counter() - started
        if cores < busy_cores or waited >= patience:
            return {"busy_cores_before": cores, "waited_s": waited}


def _end_session(sid: int, grace: float = 5) -> list[str]:
    """End what the session ``sid`` still runs ``grace`` seconds after its leader exited,
    by pid; return their command lines."""
    deadline = time.time() + grace
    while time.time() < deadline and _session_cpu(sid, zombies=False):
        time.sleep(0.2)
    left = list(_session_cpu(sid, zombies=False))
    names = []
    for pid in left:
        with contextlib.suppress(OSError):
            names.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                         .decode(errors="replace").strip()[:200])
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.time() + 10
        while time.time() < deadline and _session_cpu(sid, zombies=False):
            time.sleep(0.2)
        if not _session_cpu(sid, zombies=False):
            break
    return names


def run_timed(cmd: list[str], cwd: Path, timeout: float) -> dict[str, Any]:
    """Run ``cmd`` in ``cwd`` as a new session (output in ``cwd/log.txt``): its start (epoch
    seconds), wall time, the CPU seconds of its processes (sampled every 0.5 s) and of the
    whole machine, and what it left running (ended here)."""
    cwd.mkdir(parents=True, exist_ok=True)
    environment = {k: v for k, v in env().items()
                   if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    environment["RAY_DEDUP_LOGS"] = "0"
    cpu: dict[int, float] = {}
    with (cwd / "log.txt").open("w") as log:
        busy, started, clock = machine_busy(), time.time(), time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=environment, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        code = None
        while time.perf_counter() - clock < timeout:
            cpu |= _session_cpu(proc.pid)
            try:
                code = proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                continue
        wall = time.perf_counter() - clock
        busy = machine_busy() - busy
    own_cpu = sum(cpu.values())  # sampled: a process's last < 0.5 s of CPU is missed
    leftover = _end_session(proc.pid)  # after a timeout too: the command first
    if code != 0:
        tail = "\n".join((cwd / "log.txt").read_text().splitlines()[-25:])
        raise RuntimeError(f"{' '.join(cmd)} {'timed out' if code is None else f'exited {code}'}"
                           f":\n{tail}")
    return {"started": started, "wall_s": wall, "cpu_s": own_cpu, "machine_busy_s": busy,
            # Cores that other processes kept busy meanwhile, on average.
            "others_cores": max(0.0, busy - own_cpu) / wall,
            "leftover_processes": len(leftover), "leftover_cmdlines": leftover}


def read_runs(uri: str) -> list[dict]:
    out = subprocess.run([PYTHON, "-c", _RUNS_CODE, uri], env=env(), capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def hydra_log(path: Path) -> tuple[list[tuple[float, str]], dict[str, int]]:
    """The driver's Hydra log lines (epoch seconds, message) and Ray's run -> worker pid."""
    lines, pids = [], {}
    for line in path.read_text(errors="replace").splitlines():
        if m := _HYDRA_LINE.match(line):
            stamp = time.mktime(time.strptime(m[1], "%Y-%m-%d %H:%M:%S")) + int(m[2]) / 1000
            lines.append((stamp, m[3]))
        elif m := _RAY_LINE.search(line):
            pids[m[2]] = int(m[1])
    return lines, pids


# ---------------------------------------------------------------------------- timelines


def assign_slots(jobs: list[dict], slots: int) -> list[list[dict]]:
    """Jobs by slot: each job, in order of start, goes to the slot freed last before it
    started (an empty slot if none is free: a pool's workers start one by one)."""
    lanes: list[list[dict]] = [[] for _ in range(slots)]
    for job in sorted(jobs, key=lambda j: j["start"]):
        free = [lane for lane in lanes if lane and lane[-1]["end"] <= job["start"] + 0.05]
        empty = [lane for lane in lanes if not lane]
        if free:
            lane = max(free, key=lambda ln: ln[-1]["end"])
        elif empty:
            lane = empty[0]
        else:  # overlapping (should not happen): the slot freed first
            lane = min(lanes, key=lambda ln: ln[-1]["end"])
        lane.append(job)
    return lanes


def timeline(jobs: list[dict], started: float, wall: float, slots: int) -> dict[str, Any]:
    """Slot-seconds split into own work, start-up, gaps between jobs and tail."""
    n, ended = len(jobs), started + wall
    lanes = assign_slots(jobs, slots)
    startup = sum(lane[0]["start"] - started if lane else wall for lane in lanes)
    gaps = sum(b["start"] - a["end"] for lane in lanes for a, b in pairwise(lane))
    tail = sum(ended - lane[-1]["end"] for lane in lanes if lane)
    own = sum(j["own_s"] for j in jobs)
    return {
        "slots": slots, "slot_seconds": slots * wall, "own_s_sum": own,
        "overhead_per_job_s": (slots * wall - own) / n,
        "split_per_job_s": {"startup": startup / n, "gaps": gaps / n, "tail": tail / n},
        "lanes": [[j["job_num"] for j in lane] for lane in lanes],
        "lane_gaps_s": [[b["start"] - a["end"] for a, b in pairwise(lane)]
                        for lane in lanes],
        "lane_first_start_s": [lane[0]["start"] - started if lane else None for lane in lanes],
        "lane_tail_s": [ended - lane[-1]["end"] if lane else None for lane in lanes],
    }


# ---------------------------------------------------------------------------- the ways


def grid_args(p: dict) -> list[str]:
    return [f"architecture.bottleneck={','.join(map(str, p['bottlenecks']))}",
            f"seed={','.join(map(str, p['seeds']))}",
            f"dataset.n_samples={p['n_samples']}", f"dataset.n_features={p['n_features']}",
            f"trainer.epochs={p['epochs']}"]


def aesweep_way(way: str, p: dict, work: Path, timeout: float) -> dict[str, Any]:
    slots = p["slots"]
    launcher = {"in-process": [],
                "joblib": ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={slots}"],
                # address=local: what address=null (the default) means, "a new local
                # instance", even when `ray start` left a cluster on this machine, which
                # ray.init(address=None) would join (and refuse, with num_cpus set).
                "ray": ["hydra/launcher=ray", f"hydra.launcher.ray.init.num_cpus={slots}",
                        "hydra.launcher.ray.init.address=local"]}[way]
    root = work / "out"
    cmd = [AESWEEP, "-m", *grid_args(p), *launcher, f"paths.root={root}"]
    proc = run_timed(cmd, work, timeout)
    runs = read_runs(f"sqlite:///{root}/mlflow.db")
    children = [r for r in runs if r["tags"].get("aesweep.role") != "sweep"]
    parents = [r for r in runs if r["tags"].get("aesweep.role") == "sweep"]
    n = len(p["bottlenecks"]) * len(p["seeds"])
    finished = [r for r in children if r["status"] == "FINISHED"]
    if len(finished) != n or len(children) != n:
        raise RuntimeError(f"{way}: {len(finished)} of {n} runs finished ({len(children)} runs)")
    sweep_dirs = [d.parent for d in root.glob("multirun/*/*/multirun.yaml")]
    if len(sweep_dirs) != 1:
        raise RuntimeError(f"{way}: expected one sweep directory, found {sweep_dirs}")
    sweep_dir = sweep_dirs[0]
    lines, pids = hydra_log(work / "log.txt")
    submitted = {int(m[1]): stamp for stamp, msg in lines if (m := _JOB_LINE.match(msg))}
    jobs = []
    for r in finished:
        num = int(r["tags"]["aesweep.job_num"])
        start = (sweep_dir / str(num) / ".hydra" / "overrides.yaml").stat().st_mtime
        jobs.append({"job_num": num, "run_id": r["run_id"],
                     "bottleneck": int(r["params"]["architecture.bottleneck"]),
                     "seed": int(r["params"]["seed"]),
                     "submitted": submitted.get(num), "start": start, "run_start": r["start"],
                     "end": r["end"], "own_s": r["end"] - start,
                     "pre_run_s": r["start"] - start, "run_s": r["end"] - r["start"],
                     "train_s": r["metrics"]["train_seconds"],
                     "raw_accuracy": r["metrics"].get("raw_accuracy"),
                     "encoded_accuracy": r["metrics"].get("encoded_accuracy"),
                     "jit_compile": r["tags"].get("aesweep.jit_compile"),
                     "pid": pids.get(r["run_id"])})
    jobs.sort(key=lambda j: j["job_num"])
    out = {"cmd": cmd[1:], **proc, "jobs": jobs,
           **timeline(jobs, proc["started"], proc["wall_s"], 1 if way == "in-process" else slots),
           "train_s_sum": sum(j["train_s"] for j in jobs),
           "pre_run_s_sum": sum(j["pre_run_s"] for j in jobs),
           "run_s_sum": sum(j["run_s"] for j in jobs),
           "parent_run_s": [(r["end"] or 0) - r["start"] for r in parents],
           "first_hydra_line_s": lines[0][0] - proc["started"] if lines else None}
    if way == "ray":
        out["ray"] = ray_phases(lines, jobs, proc["started"])
    return out


def ray_phases(lines: list[tuple[float, str]], jobs: list[dict], started: float) -> dict:
    """Where Ray's time goes, from the driver's log and the jobs' own times."""
    connect = next((t for t, msg in lines if msg.startswith("Ray: connecting")), None)
    launching = next((t for t, msg in lines if msg.startswith("Ray launcher is launching")),
                     None)
    waits = sorted(jobs, key=lambda j: j["start"])
    by_pid: dict[int, list[dict]] = {}
    for job in waits:
        by_pid.setdefault(job["pid"], []).append(job)
    first = [lane[0] for lane in by_pid.values()]
    return {
        "driver_ready_s": None if connect is None else connect - started,
        "ray_init_s": None if None in (connect, launching) else launching - connect,
        "submit_span_s": (max(j["submitted"] for j in jobs) - min(j["submitted"] for j in jobs)
                          if all(j["submitted"] for j in jobs) else None),
        "workers": {str(pid): [j["job_num"] for j in lane] for pid, lane in by_pid.items()},
        # A worker's first job: submitted -> started (spawning it, importing aesweep).
        "first_job_wait_s": [j["start"] - j["submitted"] for j in first if j["submitted"]],
        # The next jobs on the same worker: the previous job's run end -> this job's start.
        "next_job_gaps_s": [b["start"] - a["end"] for lane in by_pid.values()
                            for a, b in pairwise(lane)],
    }


def tune_way(p: dict, work: Path, timeout: float) -> dict[str, Any]:
    spec = {"slots": p["slots"], "storage": str(work / "tune"),
            "bottlenecks": p["bottlenecks"], "seeds": p["seeds"],
            "data": {"dataset": {"n_samples": p["n_samples"], "n_features": p["n_features"],
                                 **DATASET},
                     **SPLIT, "epochs": p["epochs"], "batch_size": BATCH_SIZE}}
    work.mkdir(parents=True, exist_ok=True)
    (work / "spec.json").write_text(json.dumps(spec))
    cmd = [PYTHON, str(BENCH / "tune_peer.py"), str(work / "spec.json"), str(work / "result.json")]
    proc = run_timed(cmd, work, timeout)
    res = json.loads((work / "result.json").read_text())
    jobs = [{**t, "start": t["entered"], "end": t["finished"],
             "own_s": t["finished"] - t["entered"]} for t in res["trials"]]
    by_pid: dict[int, int] = {}
    for t in jobs:
        by_pid[t["pid"]] = by_pid.get(t["pid"], 0) + 1
    for i, job in enumerate(sorted(jobs, key=lambda j: j["start"])):
        job["job_num"] = i
    return {"spec": spec, **proc, "trials": jobs,
            **timeline(jobs, proc["started"], proc["wall_s"], p["slots"]),
            "train_s_sum": sum(t["train_s"] for t in jobs),
            "import_s_sum": sum(t["imported"] - t["entered"] for t in jobs),
            "phases_s": {"imports": res["imported"] - res["started"],
                         "ray_init": res["ray_ready"] - res["imported"],
                         "tuner_fit": res["fitted"] - res["ray_ready"],
                         "shutdown": res["shut_down"] - res["fitted"],
                         "interpreter_start": res["started"] - proc["started"]},
            "actor_processes": len(by_pid)}


# ---------------------------------------------------------------------------- the section


def launchers(profile: dict, tmp: Path) -> dict:
    p = {"slots": 2, **profile["launchers"]}
    n = len(p["bottlenecks"]) * len(p["seeds"])
    say(f"\n== launchers: {n} jobs (bottleneck {p['bottlenecks']} x seed {p['seeds']}; "
        f"{p['n_samples']} x {p['n_features']}, {p['epochs']} epochs), 4 ways on "
        f"{p['slots']} slots ==")
    ways: dict[str, Any] = {}
    timeout = p.get("timeout_s", 1800)
    for way in WAYS:
        work = tmp / way
        quiet = wait_for_quiet(patience=p.get("quiet_patience_s", 90))
        ways[way] = (tune_way(p, work, timeout) if way == "tune"
                     else aesweep_way(way, p, work, timeout))
        w = ways[way]
        w["before"] = quiet
        say(f"  {way:10s}: {w['wall_s']:6.1f} s wall (CPU {w['cpu_s']:.0f} s; other processes "
            f"{w['others_cores']:.2f} cores); own work "
            f"{w['own_s_sum']:.0f} s (training {w['train_s_sum']:.0f} s); overhead "
            f"{w['overhead_per_job_s']:.2f} s/job = start-up "
            f"{w['split_per_job_s']['startup']:.2f} + gaps {w['split_per_job_s']['gaps']:.2f} "
            f"+ tail {w['split_per_job_s']['tail']:.2f}"
            + (f"; {w['leftover_processes']} processes left, ended"
               if w["leftover_processes"] else ""))
    ray = ways["ray"]["ray"]
    say(f"  ray: driver ready {ray['driver_ready_s']:.1f} s, ray.init {ray['ray_init_s']:.1f} s, "
        f"first job on each worker waits {', '.join(f'{x:.1f}' for x in ray['first_job_wait_s'])}"
        f" s, next jobs {', '.join(f'{x:.2f}' for x in ray['next_job_gaps_s'])} s after the "
        f"previous; workers {ray['workers']}")
    tune = ways["tune"]
    say(f"  tune: {tune['actor_processes']} actor processes; phases "
        + ", ".join(f"{k} {v:.1f} s" for k, v in tune["phases_s"].items())
        + f"; trial imports {tune['import_s_sum']:.0f} s in all")
    walls = {way: ways[way]["wall_s"] for way in WAYS}
    overhead = {way: ways[way]["overhead_per_job_s"] for way in WAYS}
    raw = {(j["bottleneck"], j["seed"]): j["raw_accuracy"] for j in ways["ray"]["jobs"]}
    peer_raw = {(t["bottleneck"], t["seed"]): t["raw_accuracy"] for t in tune["trials"]}
    same = all(abs(raw[k] - peer_raw[k]) < 1e-9 for k in raw) and raw.keys() == peer_raw.keys()
    out = {
        **{k: p[k] for k in ("bottlenecks", "seeds", "n_samples", "n_features", "epochs",
                             "slots")},
        "jobs": n, "batch_size": BATCH_SIZE, "ways": ways, "walls_s": walls,
        "speedup_joblib": walls["in-process"] / walls["joblib"],
        "speedup_ray": walls["in-process"] / walls["ray"],
        "overhead_per_job_s": overhead,
        "ray_overhead_per_job_s": overhead["ray"] - overhead["joblib"],
        "ray_overhead_split_per_job_s": {
            part: ways["ray"]["split_per_job_s"][part] - ways["joblib"]["split_per_job_s"][part]
            for part in ("startup", "gaps", "tail")},
        # The slot-seconds a parallel way loses beyond the driver's own fixed work (the
        # in-process way's overhead, paid on every slot while no job runs).
        "overhead_beyond_driver_per_job_s": {
            way: overhead[way] - p["slots"] * overhead["in-process"]
            for way in ("joblib", "ray")},
        "ray_vs_tune": walls["ray"] / walls["tune"],
        "train_s_sum": {way: ways[way]["train_s_sum"] for way in WAYS},
        # Slot-seconds per job outside training: what each way spends around the same
        # trainings (aesweep's loop and model.fit train at different speeds).
        "non_training_per_job_s": {
            way: (ways[way]["slots"] * walls[way] - ways[way]["train_s_sum"]) / n
            for way in WAYS},
        "peer_raw_accuracy_matches": same,
    }
    say(f"  speed-up: joblib {out['speedup_joblib']:.2f}x, Ray {out['speedup_ray']:.2f}x; Ray's "
        f"overhead {out['ray_overhead_per_job_s']:+.2f} s/job beyond joblib's; aesweep on Ray / "
        f"Ray Tune {out['ray_vs_tune']:.2f} (outside training: "
        f"{out['non_training_per_job_s']['ray']:.1f} vs {out['non_training_per_job_s']['tune']:.1f}"
        f" slot-s/job); peer's raw accuracies "
        f"{'match' if same else 'DIFFER'}")
    return out
