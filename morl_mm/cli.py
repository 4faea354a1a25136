"""The ``morl-mm`` command: the Python API of morl_mm.study from a terminal.

    morl-mm run CONFIG [--out DIR] [--backend ray [--address auto|HOST:PORT] [--max-retries N]]
                                             run (or resume) a study, in process or on a Ray cluster
    morl-mm sweep CONFIG [--out DIR] [--trials N] [--backend ray ...]   tune learners by HV ratio ([sweep])
    morl-mm front RESULT [--json]            the Pareto set of a study
    morl-mm select RESULT --weights a,b,c | --min-quoting-ratio Y --max-inventory-risk X [--export FILE]
    morl-mm plot RESULT [--out DIR]          render the trade-off figures
    morl-mm report RESULT [--out FILE] [--weights a,b,c | constraints]   one self-contained HTML (or .pdf) report
    morl-mm oracle [--json]                  the exact CCS of a model
    morl-mm oracle --weights W [--adversary drift=LO:HI,...] --json   one weight, plain or max-min
    morl-mm robustness RESULT [--json]       degradation over scenarios, the worst-case front
    morl-mm retrain RESULT --scenario NAME --out DIR   warm-start a study's PPO on a new regime
    morl-mm backtest POLICY|RESULT --data F  replay policies on a recorded market
    morl-mm serve POLICY --feed F [--venue sim|fix://H:P]   quote a policy over a market-data feed
    morl-mm venue --feed F [--port P]        a simulated FIX 4.4 venue on loopback
    morl-mm calibrate DATA [--json]          fit the simulator's params to a recorded market

Errors (bad config, missing or corrupt result, infeasible selection) print one line on stderr
and exit with status 2; nothing on disk is changed by a failed command. Study units that fail (after
their retries on Ray) are named in one line, exit status 1; the finished units' parts are kept.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np


def _parse_weights(text: str) -> list[float]:
    try:
        weights = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--weights: comma-separated numbers expected, got {text!r}") from None
    return weights


def _entry_json(result, entry, scenario: str) -> dict:
    objectives = result.objectives
    preference = None if np.all(np.isnan(entry.weight)) else [float(x) for x in entry.weight]
    ci = entry.ci if entry.ci is not None else np.full(len(objectives), np.nan)
    nondominated = bool(result.dataset["nondominated"].sel(scenario=scenario, policy=entry.label))
    return {
        "label": entry.label,
        "kind": entry.kind,
        "objectives": {o: float(v) for o, v in zip(objectives, entry.values)},
        "ci": {o: (None if math.isnan(c) else float(c)) for o, c in zip(objectives, ci)},
        "preference": preference,
        "nondominated": nondominated,
    }


# -- subcommands ------------------------------------------------------------------------------------
def _study_config(args):
    from morl_mm.study import load_config

    config = load_config(args.config)
    if getattr(args, "data", None):
        if config.data is None:
            raise ValueError(f"{args.config}: --data needs a [data] table in the config")
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, file=str(Path(args.data).resolve())))
    return config


@contextlib.contextmanager
def _backend(args):
    """The backend of --backend / --address / --max-retries, closed (a private Ray head shut down) at the end."""
    from morl_mm.study.backends import make_backend

    backend = make_backend(args.backend, args.address, args.max_retries)
    try:
        yield backend
    finally:
        backend.close()


def _run_units(command: str, out: Path, body):
    """``(body(), 0)``, or ``(None, status)`` with one line on stderr when it is interrupted (130, naming the
    finished units kept) or units failed (1, the error names them)."""
    from morl_mm.study.backends import UnitFailedError

    try:
        return body(), 0
    except UnitFailedError as err:
        print(f"morl-mm {command}: error: {err}", file=sys.stderr)
        return None, 1
    except KeyboardInterrupt:
        done = sorted(p.stem for p in (out / "parts").glob("*.nc"))
        print(
            f"\nmorl-mm {command}: interrupted; {len(done)} finished unit(s) kept in {out / 'parts'} "
            f"({', '.join(done) or 'none'}); run the same command again to resume",
            file=sys.stderr,
        )
        return None, 130


def cmd_run(args) -> int:
    from morl_mm.plots import render_study
    from morl_mm.study import run_study
    from morl_mm.study.robust_front import load_robust

    config = _study_config(args)
    out = Path(args.out) if args.out else Path("results") / config.name
    with _backend(args) as backend:
        ds, status = _run_units("run", out, lambda: run_study(config, out, progress=not args.quiet, backend=backend))
    if ds is None:
        return status
    if not args.no_render:
        render_study(ds, out, load_robust(out) if config.robust is not None else None)
    print(f"wrote {out / 'study.nc'} ({ds.sizes['policy']} policies, {ds.attrs['wall_seconds']:.0f} s)")
    indicators = json.loads(ds.attrs.get("indicators", "{}"))
    for kind, values in indicators.items():
        hv = values["hv_ratio"]
        spread = f" ± {values['hv_ratio_std']:.4f} ({values['n_seeds']} seeds)" if values.get("hv_ratio_std") else ""
        budget = (
            f"  {values['env_steps']:,.0f} env steps, {values['train_seconds']:.0f} s"
            if values.get("env_steps") is not None
            else ""
        )
        print(
            f"  {kind:>12}: HV ratio {hv:.4f}{spread}  EUM ratio {values['eum_ratio']:.4f}  IGD {values['igd']:.4f}"
            f"{budget}"
            if hv is not None
            else f"  {kind}: {values}"
        )
    return 0


def cmd_sweep(args) -> int:
    from morl_mm.study.sweep import best_toml, run_sweep, sweep_json

    config = _study_config(args)
    out = Path(args.out) if args.out else Path("results") / f"{config.name}_sweep"
    with _backend(args) as backend:
        ds, status = _run_units(
            "sweep",
            out,
            lambda: run_sweep(
                config, out, backend=backend, trials=args.trials, learners=args.learner, progress=not args.quiet
            ),
        )
    if ds is None:
        return status
    if args.json:
        print(json.dumps(sweep_json(ds), indent=1))
        return 0
    print(
        f"wrote {out / 'sweep.nc'} and {out / 'sweep.json'}; best config of each learner (HV ratio against the "
        f"exact CCS):"
    )
    print(best_toml(ds))
    return 0


def cmd_front(args) -> int:
    from morl_mm.study import load_result

    result = load_result(args.result)
    front = result.pareto_set(args.scenario, nondominated_only=not args.all)
    if args.json:
        print(
            json.dumps(
                {
                    "study": result.dataset.attrs.get("name", ""),
                    "scenario": args.scenario,
                    "objectives": result.objectives,
                    "scales": result.scales.tolist(),
                    "policies": [_entry_json(result, e, args.scenario) for e in front],
                },
                indent=2,
            )
        )
    else:
        print(
            f"{'all policies' if args.all else 'Pareto set'} of {result.path} on {args.scenario} "
            f"({len(front)} policies; weights apply to value / scales, scales = {np.round(result.scales, 4).tolist()})"
        )
        print(front.table())
    return 0


def _bounds(args) -> dict[str, float]:
    """``at_least`` bounds from --min-quoting-ratio / --max-inventory-risk (inventory_risk >= -X)."""
    at_least = {}
    if args.max_inventory_risk is not None:
        if args.max_inventory_risk < 0:
            raise ValueError(
                f"--max-inventory-risk: a magnitude >= 0 is expected (inventory_risk >= -X), "
                f"got {args.max_inventory_risk}"
            )
        at_least["inventory_risk"] = -args.max_inventory_risk
    if args.min_quoting_ratio is not None:
        at_least["quoting_ratio"] = args.min_quoting_ratio
    if args.weights is not None and at_least:
        raise ValueError("give either --weights or constraints (--min-quoting-ratio/--max-inventory-risk), not both")
    return at_least


def cmd_select(args) -> int:
    from morl_mm.study import load_result

    result = load_result(args.result)
    candidates = result.pareto_set(args.scenario)
    at_least = _bounds(args)
    if args.weights is not None:
        entry = candidates.select(args.weights)
        criterion = {"weights": args.weights}
    else:
        if not at_least:
            raise ValueError("give --weights a,b,c or at least one of --min-quoting-ratio / --max-inventory-risk")
        entry = candidates.select_by_constraints(maximise=args.maximise, at_least=at_least)
        criterion = {"maximise": args.maximise, "at_least": at_least}
    exported = None
    if args.export:
        exported = str(result.export_policy(entry.label, args.export))
    if args.json:
        print(
            json.dumps(
                {
                    **_entry_json(result, entry, args.scenario),
                    "criterion": criterion,
                    "policy_file": str(result.policy_dir / f"{entry.label}.mmpol"),
                    "exported": exported,
                },
                indent=2,
            )
        )
    else:
        print(f"selected {entry.label} ({entry.kind}) by {criterion}")
        for o, v, c in zip(result.objectives, entry.values, entry.ci):
            print(f"  {o:>15}: {v:.4f} ± {c:.4f}")
        if exported:
            print(f"exported to {exported}")
    return 0


def cmd_plot(args) -> int:
    from morl_mm.plots import render_all
    from morl_mm.study import load_result

    result = load_result(args.result)
    out = Path(args.out) if args.out else result.path.parent / "figures"
    for path in render_all(result.dataset, out, selected=args.selected):
        print(path)
    return 0


def cmd_report(args) -> int:
    from morl_mm.plots import write_report
    from morl_mm.plots.summary import Criterion
    from morl_mm.study import load_result

    result = load_result(args.result)
    out = Path(args.out) if args.out else result.path.parent / "report.html"
    at_least = _bounds(args)
    criterion = None
    if args.weights is not None or at_least:
        if args.selected is not None:
            raise ValueError("give either --selected or --weights / constraints, not both")
        criterion = Criterion(
            weights=None if args.weights is None else tuple(args.weights),
            maximise=args.maximise,
            at_least=at_least or None,
        )
    write_report(result.dataset, out, selected=args.selected, scenario=args.scenario, criterion=criterion)
    print(out)
    return 0


def cmd_compare(args) -> int:
    from morl_mm.study import load_result
    from morl_mm.study.comparison import learner_table, markdown_table

    table = learner_table(load_result(args.result).dataset)
    if not table:
        raise ValueError(f"{args.result}: the study has no learners to compare")
    print(json.dumps(table, indent=1) if args.json else markdown_table(table))
    return 0


def cmd_robustness(args) -> int:
    from morl_mm.plots.fronts import safe_filename, save_png
    from morl_mm.plots.robustness import robustness_figure
    from morl_mm.study import load_result
    from morl_mm.study.robust_front import adversary_markdown, adversary_table, load_robust
    from morl_mm.study.robustness import markdown_tables, robustness_table

    result = load_result(args.result)
    table = robustness_table(result.dataset, args.set)
    robust = load_robust(result.path.parent)  # a study with [robust]: its fronts under the worst-case adversary
    if robust is not None:
        table["adversary"] = adversary_table(robust, result.dataset)
    figure = None
    if not args.no_figure:
        name = "robustness.png" if args.set is None else f"robustness_{safe_filename(args.set)}.png"
        figure = save_png(robustness_figure(result.dataset, args.set), result.path.parent / "figures" / name)
    if args.json:
        print(json.dumps(table, indent=1))
    else:
        print(markdown_tables(table))
        if robust is not None:
            print("\n" + adversary_markdown(table["adversary"]))
        if figure is not None:
            print(f"\nwrote {figure}")
    return 0


def cmd_retrain(args) -> int:
    from morl_mm.plots import render_study
    from morl_mm.study import load_result
    from morl_mm.study.retrain import retrain, retrain_summary

    result = load_result(args.result)
    # with --json, stdout is the JSON object alone: the runner's messages go to stderr
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        ds = retrain(
            result,
            args.scenario,
            args.out,
            env_steps=args.env_steps,
            learner=args.learner,
            seed=args.seed,
            checkpoints=args.checkpoints,
            scratch=args.scratch,
            progress=not args.quiet,
            shrink=args.shrink,
            perturb=args.perturb,
            reset_critic=args.reset_critic,
        )
        if not args.no_render:
            render_study(ds, args.out)
    summary = retrain_summary(ds)
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    print(
        f"wrote {Path(args.out) / 'study.nc'}: {summary['study']}, HV ratio against the exact CCS of scenario "
        f"{args.scenario!r}"
    )
    for name, curve in summary["curves"].items():
        reached = curve["steps_to_target"]
        points = ", ".join(f"{s:,}: {r:.3f}" for s, r in zip(curve["env_steps"], curve["hv_ratio"]))
        print(f"  {name}: {points}")
        print(
            f"    reaches {summary['target']}: "
            + ("not within the budget" if reached is None else f"at {reached:,} env steps")
        )
    if summary["warm_over_scratch"] is not None:
        print(
            f"  warm start needs {summary['warm_over_scratch']:.3f} of the env steps that training from scratch needs"
        )
    return 0


def cmd_oracle(args) -> int:
    from morl_mm.oracle.__main__ import main as oracle_main

    return oracle_main(args.oracle_args) or 0


def _capture_window(capture, start: float | None, end: float | None) -> tuple[int | None, int | None]:
    """``--start``/``--end`` (seconds from the capture's start) as ns timestamps."""
    t0 = capture.start_ns
    lo = None if start is None else t0 + int(round(start * 1e9))
    hi = None if end is None else t0 + int(round(end * 1e9))
    if lo is not None and hi is not None and hi <= lo:
        raise ValueError(f"--end ({end} s) must be after --start ({start} s)")
    return lo, hi


def cmd_backtest(args) -> int:
    from morl_mm.data.readers import read_capture
    from morl_mm.evaluation.backtest import backtest, backtest_json
    from morl_mm.policies.io import load_policy

    target = Path(args.policy)
    if target.suffix == ".mmpol":
        loaded = load_policy(target)
        policies = [(loaded.header.get("label") or target.stem, loaded.header.get("kind", ""), loaded)]
    else:
        from morl_mm.study import load_result

        result = load_result(target)
        front = result.pareto_set("base", nondominated_only=not args.all)
        policies = [
            (e.label, e.kind, result.load_policy(e.label))
            for e in front
            if (result.policy_dir / f"{e.label}.mmpol").is_file()
        ]
    capture = read_capture(args.data, args.format, skip_bad_lines=args.skip_bad_lines)
    start_ns, end_ns = _capture_window(capture, args.start, args.end)
    ds = backtest(policies, capture, fill_model=args.fill_model, start_ns=start_ns, end_ns=end_ns, seed=args.seed)
    out = backtest_json(ds)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    objectives = out["objectives"]
    print(
        f"backtest on {out['data']} ({out['venue']}), fill model {out['fill_model']}: {out['windows']} windows of "
        f"{out['horizon']:g} s (dt {out['dt']:g} s); mean ± 95% CI over windows"
    )
    header = ["policy"] + objectives + ["realized spread", "slippage", "pnl Sharpe", "inv. skew", "fills bid/ask"]
    print(" | ".join(header))
    for row in out["policies"]:
        m = row["metrics"]
        cells = [row["label"]] + [_pm(row["objectives"][o], row["ci"][o]) for o in objectives]
        cells += [
            _fmt(m["realized_spread_mean"]),
            _fmt(m["slippage"]),
            _fmt(m["pnl_sharpe"]),
            _fmt(m["inventory_skewness"]),
            f"{_fmt(m['fills_bid'])}/{_fmt(m['fills_ask'])}",
        ]
        print(" | ".join(cells))
    return 0


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _pm(value, ci) -> str:
    return _fmt(value) if ci is None else f"{value:.4g} ± {ci:.2g}"


def cmd_calibrate(args) -> int:
    from morl_mm.atomic import atomic_output
    from morl_mm.data.calibration import calibrate
    from morl_mm.data.readers import read_capture

    capture = read_capture(args.data, args.format, skip_bad_lines=args.skip_bad_lines)
    cal = calibrate(capture, dt=args.dt, horizon=args.horizon, start=args.start, end=args.end)
    if args.out:
        with atomic_output(args.out) as tmp:
            tmp.write_text(cal.to_toml())
    if args.figure:
        with atomic_output(args.figure) as tmp:
            cal.figure(tmp, format=Path(args.figure).suffix.lstrip(".") or "png")
    if args.json:
        print(json.dumps(cal.to_json(), indent=2))
        return 0
    d = cal.diagnostics
    print(
        f"calibrated {d['instrument']} ({d['venue']}) on {d['span_s']:.1f} s: {d['n_market_orders']} market orders, "
        f"{d['n_returns']} returns on a {d['vol_grid_s']:g} s grid; dt {cal.dt:g} s, {cal.n_steps} steps of "
        f"{cal.params['horizon']:g} s (A dt = {d['A_max_dt']:.3g})"
    )
    for key, value in cal.params.items():
        ci = cal.ci.get(key)
        text = value if isinstance(value, list) else f"{value:.6g}"
        print(f"  {key:>22} = {text}" + (f"  [{ci[0]:.4g}, {ci[1]:.4g}]" if ci else ""))
    for key, why in d.get("not_fitted", {}).items():
        print(f"  not fitted: {key}: {why}")
    for path in (args.out, args.figure):
        if path:
            print(f"wrote {path}")
    return 0


def cmd_venue(args) -> int:
    import signal
    import threading

    from morl_mm.atomic import atomic_output
    from morl_mm.env.params import EnvParams
    from morl_mm.live.source import CaptureSource
    from morl_mm.live.venue import MatchingVenue

    try:
        from morl_mm.live.fix_venue import FixVenue
    except ModuleNotFoundError as err:
        raise ValueError(f"{err.name} is not installed: pip install 'morl-mm[live]'") from None

    if args.port is not None and not 0 <= args.port < 65536:
        raise ValueError(f"--port: must be in 0..65535 (0: a free port), got {args.port}")
    if not (math.isfinite(args.dt) and args.dt > 0):
        raise ValueError(f"--dt: must be > 0 seconds (the policy's dt), got {args.dt}")
    # the tape serve's CaptureSource builds from the same feed, window and dt: one construction for both sides
    source = CaptureSource(
        args.feed,
        args.format,
        dt=args.dt,
        speed="max",
        start=args.start,
        end=args.end,
        skip_bad_lines=args.skip_bad_lines,
    )
    capture, tape, info = source.capture, source.tape, source.info
    params = EnvParams(tick_size=float(capture.tick_size), maker_fee=float(args.maker_fee))
    matching = MatchingVenue(tape, params, args.fill_model, reference_price=info.reference_price)
    venue = FixVenue(
        matching, comp_id=args.comp_id, host=args.host, port=args.port or 0, symbol=capture.instrument
    ).start()
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    print(f"fix://{venue.host}:{venue.port}", flush=True)
    print(
        f"morl-mm venue: {capture.instrument} ({capture.venue}), {info.steps} steps of {args.dt:g} s, fill model "
        f"{args.fill_model}; FIX 4.4 as {args.comp_id}" + ("; stops at the client's logout" if args.once else ""),
        file=sys.stderr,
        flush=True,
    )
    try:
        while not stop.wait(0.1):
            if args.once and venue.logged_out.is_set():
                break
    finally:
        venue.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    record = {
        "data": capture.source,
        "venue": capture.venue,
        "instrument": capture.instrument,
        "fill_model": args.fill_model,
        "dt": float(args.dt),
        "steps": info.steps,
        "reference_price": info.reference_price,
        **venue.record(),
    }
    if args.record:
        with atomic_output(args.record) as tmp:
            tmp.write_text(json.dumps(record, indent=2))
    print(
        f"morl-mm venue: {len(record['orders'])} order messages, {len(record['fills'])} fills, inventory "
        f"{record['inventory']:g}, cash {record['cash']:.6g}" + (f"; wrote {args.record}" if args.record else ""),
        file=sys.stderr,
    )
    return 0


def cmd_serve(args) -> int:
    import logging

    from morl_mm.live.session import run_session

    logging.basicConfig(level=logging.INFO, format="morl-mm serve: %(message)s")
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        raise ValueError(f"--metrics-port: a port in 0..65535 expected, got {args.metrics_port}")

    if args.cpu is not None:
        from morl_mm.live.session import pin_to_cpu

        pin_to_cpu(args.cpu)
    summary = run_session(
        args.policy,
        args.feed,
        format=args.format,
        speed=args.speed,
        venue=args.venue,
        metrics_port=args.metrics_port,
        limits=args.limits,
        out=args.out,
        start=args.start,
        end=args.end,
        fill_model=args.fill_model,
        expect=args.expect,
        seed=args.seed,
    )
    if args.json:
        print(json.dumps(summary, indent=2, default=float))
        return 0
    account, record = summary["account"], summary.get("venue_record") or {}
    print(
        f"session of {summary['policy']} on {summary['data']} ({summary['venue']}, speed {summary['speed']}): "
        f"{summary['intervals']} intervals of {summary['dt']:g} s, {summary['complete_episodes']} complete "
        f"episode(s) of {summary['horizon']:g} s; stopped by {summary['stopped_by']}"
    )
    for o, v in summary["objectives"].items():
        print(f"  {o:>15}: {_fmt(v)} (mean over complete episodes)")
    print(
        f"  position {account['inventory']:g}, cash {account['cash']:.10g}"
        + (f" (venue record: {record['inventory']:g}, {record['cash']:.10g})" if record else "")
    )
    orders = summary["orders"]
    print(
        f"  orders: {orders['new']} new, {orders['replace']} replace, {orders['cancel']} cancel, "
        f"{orders['rejected']} rejected; {account['fills']} fills"
    )
    breaches = {k: v for k, v in summary["risk"]["breaches"].items() if v}
    print(
        f"  risk breaches: {breaches or 'none'}"
        + (f"; killed: {summary['risk']['kill_reason']}" if summary["risk"]["killed"] else "")
    )
    m = summary["monitor"]["metrics"]
    print(
        f"  decision latency p50 {_fmt(m['decision_latency_p50_us'])} us, p99 {_fmt(m['decision_latency_p99_us'])}"
        f" us; alerts: {len(summary['monitor']['alerts'])}"
    )
    for path in summary.get("report", []):
        print(f"wrote {path}")
    return 0


def capture_arguments(p: argparse.ArgumentParser, name: str, verb: str, skip_flag: bool = True) -> None:
    """The arguments of a command that reads a capture: the file, its format, a part of it, bad lines
    (``skip_flag``: a --skip-bad-lines option; without it the command always skips and reports them)."""
    required = {"required": True} if name.startswith("--") else {}  # an option (backtest --data) or a positional
    p.add_argument(
        name,
        help="capture file (LOBSTER zip or message CSV, Binance or Bitstamp log)"
        + ("" if skip_flag else "; malformed lines are reported and skipped"),
        **required,
    )
    p.add_argument("--format", default="auto", choices=["auto", "lobster", "binance", "bitstamp"])
    p.add_argument("--start", type=float, help=f"{verb} from this many seconds after the capture's start")
    p.add_argument("--end", type=float, help=f"{verb} up to this many seconds after the capture's start")
    if skip_flag:
        p.add_argument("--skip-bad-lines", action="store_true", help="skip (and count) corrupt lines of the capture")


def fill_model_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--fill-model",
        default="queue",
        choices=["queue", "trade_through", "touch"],
        help="queue: back of the displayed level (default); trade_through: fills only on prints through "
        "the quote (lower bound); touch: any print at the quote (upper bound)",
    )


def backend_options(p: argparse.ArgumentParser) -> None:
    from morl_mm.study.backends import BACKENDS, DEFAULT_MAX_RETRIES

    p.add_argument(
        "--backend",
        default="inprocess",
        choices=list(BACKENDS),
        help="where the units run: in this process (default) or as Ray tasks (pip install 'morl-mm[ray]')",
    )
    p.add_argument(
        "--address", help="--backend ray: the cluster, auto or HOST:PORT (default: a private local head on 127.0.0.1)"
    )
    p.add_argument(
        "--max-retries",
        type=int,
        default=DEFAULT_MAX_RETRIES,
        help=f"--backend ray: times a unit whose worker dies is retried (default {DEFAULT_MAX_RETRIES})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="morl-mm",
        description="Multi-objective RL for market making: run Pareto "
        "studies, inspect fronts, select a policy by risk appetite, plot and report.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "run",
        help="run (or resume) a study config",
        description="Run a study config (TOML): oracle "
        "CCS, classical strategies and learners, evaluated on the base model and held-out scenarios. "
        "Finished units are reused when the study is run again into the same folder.",
    )
    p.add_argument("config", help="study config, e.g. studies/default.toml")
    p.add_argument("--out", help="output folder (default results/<study name>)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no-render", action="store_true", help="skip figures and report")
    p.add_argument("--data", help="a study with [data]: use this capture instead of [data] file (same format)")
    backend_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "sweep",
        help="tune learners' hyperparameters by HV ratio against the exact CCS ([sweep])",
        description="Optuna trials of each learner of [sweep] (its keys in [sweep.space.<learner>]), "
        "every trial a study unit at the learner's own budget, scored by its HV ratio against the "
        "exact CCS; writes sweep.nc and sweep.json and prints the best config of each learner.",
    )
    p.add_argument("config", help="study config with a [sweep] table")
    p.add_argument("--out", help="output folder (default results/<study name>_sweep)")
    p.add_argument("--trials", type=int, help="trials per learner (default [sweep] trials)")
    p.add_argument("--learner", action="append", help="tune only this learner of [sweep] (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    backend_options(p)
    p.set_defaults(func=cmd_sweep)

    def selection_options(q):
        q.add_argument("--weights", type=_parse_weights, help="preference weights on the simplex, e.g. 0.3,0.3,0.4")
        q.add_argument("--min-quoting-ratio", type=float, help="quoting_ratio >= Y")
        q.add_argument("--max-inventory-risk", type=float, help="inventory risk magnitude <= X (inventory_risk >= -X)")
        q.add_argument("--maximise", default="pnl", help="objective to maximise under constraints (default pnl)")

    def result_parser(name, help_text, description):
        q = sub.add_parser(name, help=help_text, description=description)
        q.add_argument("result", help="study.nc, or the study's output folder")
        q.add_argument("--scenario", default="base", help="scenario to read (default base)")
        return q

    p = result_parser(
        "front",
        "print the Pareto set of a study",
        "Print the non-dominated policies of a study (mean ± 95%% CI per objective, and the weight each was found at).",
    )
    p.add_argument("--all", action="store_true", help="every evaluated policy, not only the non-dominated ones")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_front)

    p = result_parser(
        "select",
        "select a policy by weights or constraints",
        "Select the policy maximising "
        "w . (J / scales) (--weights), or the one with the largest --maximise objective subject to "
        "constraints. --max-inventory-risk X means inventory_risk >= -X.",
    )
    selection_options(p)
    p.add_argument(
        "--export", help="copy the selected policy's file here (load it with morl_mm.policies.io.load_policy)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_select)

    p = result_parser(
        "plot",
        "render the trade-off figures",
        "Render 2-D and 3-D fronts, parallel coordinates, learning curves and trajectories as PNG.",
    )
    p.add_argument("--out", help="folder (default: figures/ beside the result)")
    p.add_argument("--selected", help="policy label whose trajectories to plot (default: chosen by the plots)")
    p.set_defaults(func=cmd_plot)

    p = result_parser(
        "report",
        "write the risk-committee report",
        "Write one self-contained HTML report (or a PDF "
        "when --out ends with .pdf): a summary of the selected policy (by --selected, --weights or "
        "constraints, as in select; default equal weights), the Pareto set, an interactive chooser "
        "(HTML; open report.html#weights=a,b,c), fronts, learning curves and metric tables.",
    )
    p.add_argument("--out", help="file (default: report.html beside the result)")
    p.add_argument("--selected", help="policy label to feature")
    selection_options(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "compare",
        help="table of the learners: front quality, env steps, wall time",
        description="One row per learner: HV ratio, EUM ratio and IGD against the exact CCS (mean ± "
        "std over training seeds), mean env steps and training seconds. Markdown, or --json.",
    )
    p.add_argument("result", help="study.nc, or the study's output folder")
    p.add_argument(
        "--json",
        action="store_true",
        help='{"<learner>": {"group", "algorithm", "n_seeds", "env_steps", '
        '"train_seconds", "hv_ratio", "hv_ratio_std", ...}}',
    )
    p.set_defaults(func=cmd_compare)

    from morl_mm.study.robustness import JSON_SHAPE

    p = sub.add_parser(
        "robustness",
        help="degradation of the fronts over held-out scenarios, and the worst case",
        description="Per-scenario fronts of a study and its worst case over a scenario set: for the "
        "oracle CCS, each learner and each classical strategy, the utility w . (J / scales) (mean over "
        "the EUM weights) of the policy chosen on the base model, on every scenario of the set and "
        "its drop from the base model; the worst case (each policy's worst utility over the set at each "
        "weight, the best such policy per weight); hypervolume ratios to the base model. A study with "
        "[robust] adds its fronts under the worst-case adversary against the exact robust front "
        '(--json: key "adversary"). Writes the figure RESULT/figures/robustness[_SET].png.',
    )
    p.add_argument("result", help="study.nc, or the study's output folder")
    p.add_argument("--set", help="a [scenario_sets] name of the study (default: every scenario of the study)")
    p.add_argument("--no-figure", action="store_true", help="do not write the figure")
    p.add_argument("--json", action="store_true", help=JSON_SHAPE)
    p.set_defaults(func=cmd_robustness)

    from morl_mm.study.retrain import (
        DEFAULT_CHECKPOINTS,
        DEFAULT_PERTURB,
        DEFAULT_RESET_CRITIC,
        DEFAULT_SHRINK,
        SUMMARY_SHAPE,
        TARGET_HV_RATIO,
    )

    p = sub.add_parser(
        "retrain",
        help="continue a study's PPO network on a scenario's regime (warm start)",
        description="Continue training a study's PPO network (its saved params) on the params of one "
        "of its constant-params scenarios and write a new result (same layout) into --out: the "
        "scenario's exact CCS (oracle), the classical strategies and the warm-started learner "
        "<learner>_warm (and, with --scratch, <learner>_scratch: the same budget from a fresh "
        "network), whose HV-ratio curves against that CCS come from checkpoints along training (the "
        f"warm start's first one is the network before retraining). Prints the curves and the env "
        f"steps each needs to reach HV ratio {TARGET_HV_RATIO}.",
    )
    p.add_argument("result", help="study.nc, or the study's output folder")
    p.add_argument("--scenario", required=True, help="a constant-params scenario of the study (e.g. volatile)")
    p.add_argument("--env-steps", type=int, help="training budget (default: what the study's learner trained)")
    p.add_argument("--out", required=True, help="output folder of the new result")
    p.add_argument("--learner", help="the study's ppo learner (default: its only one)")
    p.add_argument("--seed", type=int, help="training seed of the network to continue (default: the learner's first)")
    p.add_argument(
        "--checkpoints",
        type=int,
        default=DEFAULT_CHECKPOINTS,
        help=f"checkpoints along training (default {DEFAULT_CHECKPOINTS})",
    )
    p.add_argument("--scratch", action="store_true", help="also train from scratch with the same budget and seed")
    p.add_argument(
        "--shrink",
        type=float,
        default=DEFAULT_SHRINK,
        help=f"shrink-and-perturb (Ash & Adams 2020): the warm start begins at shrink * params + perturb * "
        f"a fresh initialisation (default {DEFAULT_SHRINK}; 1 with --perturb 0: the network as saved)",
    )
    p.add_argument(
        "--perturb",
        type=float,
        default=DEFAULT_PERTURB,
        help=f"the fresh initialisation's share, see --shrink (default {DEFAULT_PERTURB})",
    )
    p.add_argument(
        "--reset-critic",
        action=argparse.BooleanOptionalAction,
        default=DEFAULT_RESET_CRITIC,
        help="the warm start's critic (value heads) starts fresh, to re-fit the new regime's values "
        f"(default {'on' if DEFAULT_RESET_CRITIC else 'off'}; --no-reset-critic keeps it)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no-render", action="store_true", help="skip figures and report")
    p.add_argument("--json", action="store_true", help=SUMMARY_SHAPE)
    p.set_defaults(func=cmd_retrain)

    p = sub.add_parser(
        "backtest",
        help="replay policies on a recorded market",
        description="Replay a policy file (.mmpol) or a study's policies (its non-dominated ones, or "
        "--all) on a capture of real market data, in consecutive windows of the policy's episode "
        "length; print the objective vector and the market-making metrics (mean ± 95%% CI over "
        "windows).",
    )
    p.add_argument("policy", help="a policy file (.mmpol), or a study result (study.nc or its folder)")
    capture_arguments(p, "--data", "replay")
    fill_model_argument(p)
    p.add_argument("--all", action="store_true", help="a study's every policy, not only its non-dominated ones")
    p.add_argument("--seed", type=int, default=0, help="seed of the policies' own randomness")
    p.add_argument(
        "--json",
        action="store_true",
        help='{"data", "venue", "instrument", "fill_model", "windows", '
        '"dt", "horizon", "replay_seconds", "valid_fraction", "objectives", "policies": [{"label", "kind", '
        '"objectives", "ci", "metrics"}]}',
    )
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser(
        "calibrate",
        help="fit the simulator's params to a recorded market",
        description="Calibrate EnvParams to a capture (LOBSTER, Binance or Bitstamp): sigma, the fill "
        "intensity A exp(-kappa delta), tick size, dt, and where the data support them adverse impact, "
        "the order-flow signal and volatility regimes, with confidence intervals; prices relative to "
        "the mid (mid0 = 0), time in seconds.",
    )
    capture_arguments(p, "data", "calibrate")
    p.add_argument(
        "--dt", type=float, help="simulator step in seconds (default: the largest round dt with A dt <= 0.1)"
    )
    p.add_argument("--horizon", type=float, default=60.0, help="episode length in seconds (default 60)")
    p.add_argument("--out", help="write the params as a study-config TOML fragment ([env.params], [env] n_regimes)")
    p.add_argument("--figure", help="write the fit's figure (lambda(delta), vol signature, returns), e.g. fit.png")
    p.add_argument(
        "--json",
        action="store_true",
        help='{"sigma", "arrival_rate", "kappa", "tick_size", "dt", '
        '"n_steps", ..., "ci": {field: [low, high]}, "diagnostics": {...}}',
    )
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser(
        "venue",
        help="a simulated FIX 4.4 venue replaying a capture (paper trading)",
        description="A FIX 4.4 acceptor on loopback that replays a capture on a grid of --dt seconds "
        "and matches its client's orders (NewOrderSingle, OrderCancelReplaceRequest, "
        "OrderCancelRequest) with the replay env's fill model, answering with ExecutionReports; a "
        "TestRequest with TestReqID sync-<step> matches that step. Prints fix://HOST:PORT on its "
        "first line; stops on SIGINT/SIGTERM (or at the client's logout with --once) and writes "
        "its record of the client (orders, fills, inventory, cash) with --record.",
    )
    capture_arguments(p, "--feed", "replay")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="TCP port (default 0: a free port, printed)")
    fill_model_argument(p)
    p.add_argument("--dt", type=float, default=1.0, help="market step in seconds: the policy's dt (default 1)")
    p.add_argument("--maker-fee", type=float, default=0.0, help="cash charged per unit filled (default 0)")
    p.add_argument("--comp-id", default="VENUE", help="the venue's SenderCompID (default VENUE)")
    p.add_argument("--once", action="store_true", help="stop when the client logs out")
    p.add_argument(
        "--record",
        help='write the record as JSON: {"orders", "fills", "inventory", "cash", "rejects", '
        '"volume", "working_orders", "last_matched_step", ...}',
    )
    p.set_defaults(func=cmd_venue)

    p = sub.add_parser(
        "serve",
        help="quote a policy over a market-data feed (paper trading: --venue sim)",
        description="Run a quote engine: the policy (.mmpol) decides once per interval of its dt on a "
        "replayed capture, with the replay env's observation; orders go to a simulated venue matching "
        "with the replay fill model (--venue sim) or over FIX 4.4 (--venue fix://HOST:PORT); risk "
        "limits apply before any order leaves; metrics for Prometheus on 127.0.0.1.",
    )
    p.add_argument("policy", help="the policy file (.mmpol), e.g. from morl-mm select --export")
    capture_arguments(p, "--feed", "replay", skip_flag=False)
    p.add_argument("--speed", default="1", help="1 = real time (default), 10 = ten times faster, max = no sleeping")
    p.add_argument("--venue", default="sim", help="sim (in process, default) or fix://HOST:PORT")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on 127.0.0.1:P (0: a free port)")
    p.add_argument(
        "--limits",
        help="limits.toml: [limits] max_inventory, max_order_rate, price_collar(_ticks), "
        "max_loss, max_drawdown, stale_after_s, kill_file",
    )
    p.add_argument("--out", help="folder for the end-of-session report (session.json, .md, .html)")
    fill_model_argument(p)
    p.add_argument(
        "--expect",
        help="alert against these expectations: the study (folder or study.nc) that "
        "selected the policy, or a morl-mm backtest --json file (default: the policy file's header)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the policy's own randomness")
    p.add_argument("--cpu", type=int, help="run the engine on this CPU only (lower decision latency)")
    p.add_argument("--json", action="store_true", help="print the session summary as JSON")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "oracle",
        help="exact CCS of a model, or one weight (--weights, --adversary: max-min)",
        add_help=False,
        description="Exact convex coverage set by dynamic programming, or one weight "
        "plain or robust against an adversary box; options as python -m morl_mm.oracle.",
    )
    p.add_argument("oracle_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_oracle)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["oracle"]:  # the oracle's own parser takes every option after the subcommand
        return cmd_oracle(argparse.Namespace(oracle_args=argv[1:]))
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:  # ConfigError, InfeasibleSelectionError, bad files and weights are ValueErrors
        print(f"morl-mm {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a folder that cannot be written, a full disk: the file named, no traceback
        print(f"morl-mm {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"\nmorl-mm {args.command}: interrupted (files are written atomically: none is left half-written)",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
