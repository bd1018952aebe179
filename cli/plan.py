"""`hpoctl plan`: the resolved plan a backend would run, with every preset and override applied."""

from __future__ import annotations

from hpoctl.cli.options import (
    DataOpt,
    MaxTrialsOpt,
    OutputOpt,
    PresetOpt,
    SetOpt,
    StageOpt,
    StudyArg,
    TargetOpt,
)
from hpoctl.cli.output import OutputFormat, emit
from hpoctl.plan import select_plans


def plan(
    study: StudyArg,
    target: TargetOpt,
    stage: StageOpt = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    data: DataOpt = None,
    max_trials: MaxTrialsOpt = None,
    output: OutputOpt = OutputFormat.yaml,
) -> None:
    """Print the resolved plan for a target (or `all`): parameters, objectives, algorithm, stages.

    Examples:
        hpoctl plan everest --target M_24h
        hpoctl plan everest --target M_24h --preset quick --stage refinement -o json
        hpoctl plan csi --target default --set algorithm.name=random
        hpoctl plan everest --target 'M_*' --max-trials 166 -o table
    """
    plans = select_plans(study, target, stage=stage, preset=preset, set_=set_, max_trials=max_trials, data=data)
    data = [p.to_data() for p in plans]
    if output is OutputFormat.table:
        rows = [
            {
                "target": p.target,
                "stage": s.name,
                "mode": s.mode,
                "trials": s.trials,
                "epochs": s.epochs,
                "algorithm": p.algorithm_choice or p.algorithm.name,
                "early_stopping": p.early_stopping.name,
                "args": " ".join(p.trainer_args({}, epochs=s.epochs, seed=p.seed)[6:]),
            }
            for p in plans
            for s in p.stages
        ]
        emit(data, output, rows=rows)
        return
    emit(data[0] if len(data) == 1 else data, output)
